// HfTokenizerWriter: the tokenizer.json written from the o200k ranks is the reference
// o200k_harmony file (same bytes, same vocab and merges) and tokenizes like both loaders.
#include "tokenizer/hf_tokenizer_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "test_paths.h"
#include "tokenizer/o200k.h"
#include "tokenizer_fixtures.h"

namespace atom {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The written o200k_harmony files, once per process; removed when the tests end.
std::string* g_written_dir = nullptr;

const std::string& WrittenDir() {
  if (g_written_dir == nullptr) {
    g_written_dir = new std::string(testing::MakeTempDir("hf-tokenizer-writer"));
    const Status s = WriteO200kHarmonyTokenizerFiles(testing::O200kRanksPath(), *g_written_dir);
    if (!s.ok()) ADD_FAILURE() << s.ToString();
  }
  return *g_written_dir;
}

class RemoveWrittenDir : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    if (g_written_dir != nullptr) std::filesystem::remove_all(*g_written_dir, ec);
  }
};
const auto* const kRemoveWrittenDir = ::testing::AddGlobalTestEnvironment(new RemoveWrittenDir);

const Tokenizer& Written() {
  static const std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::FromHfJson(WrittenDir() + "/tokenizer.json");
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      std::abort();
    }
    return std::move(r).value();
  }();
  return *t;
}

TEST(HfTokenizerWriter, ByteIdenticalToTheReferenceFile) {
  const std::string written = ReadAll(WrittenDir() + "/tokenizer.json");
  const std::string reference = ReadAll(testing::O200kHfJsonPath());
  ASSERT_FALSE(reference.empty());
  EXPECT_EQ(written.size(), reference.size());
  EXPECT_TRUE(written == reference)
      << "first difference at byte "
      << std::distance(written.begin(), std::mismatch(written.begin(), written.end(),
                                                      reference.begin(), reference.end())
                                            .first);
}

TEST(HfTokenizerWriter, SameVocabMergesAndPipelineAsTheReference) {
  const auto written = nlohmann::json::parse(ReadAll(WrittenDir() + "/tokenizer.json"));
  const auto reference = nlohmann::json::parse(ReadAll(testing::O200kHfJsonPath()));
  EXPECT_EQ(written["model"]["vocab"].size(), 199998u);
  EXPECT_EQ(written["model"]["merges"].size(), 446189u);
  EXPECT_TRUE(written["model"]["vocab"] == reference["model"]["vocab"]);
  // Merge order is fully determined (merged rank, then left rank, then right rank), so the
  // lists are compared as lists, not as sets.
  EXPECT_TRUE(written["model"]["merges"] == reference["model"]["merges"]);
  for (const char* key : {"added_tokens", "normalizer", "pre_tokenizer", "post_processor",
                          "decoder", "version", "truncation", "padding"}) {
    EXPECT_TRUE(written[key] == reference[key]) << key;
  }
  auto model = written["model"], ref_model = reference["model"];
  model.erase("vocab"), model.erase("merges"), ref_model.erase("vocab"), ref_model.erase("merges");
  EXPECT_EQ(model, ref_model);
}

TEST(HfTokenizerWriter, ConfigFilesEqualTheRealRepositorys) {
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    EXPECT_EQ(ReadAll(WrittenDir() + "/" + name), ReadAll(testing::DataDir() + "/configs/" + name))
        << name;
  }
}

TEST(HfTokenizerWriter, TestVectorsGiveTheSameIdsAsBothLoaders) {
  const Tokenizer& t = Written();
  int checked = 0;
  for (const auto& group : testing::O200kVectors()["groups"]) {
    for (const auto& c : group["cases"]) {
      const std::string text = c["text"];
      const std::vector<int32_t> want = c["ids"];
      const bool ordinary = c["mode"] == "ordinary";
      EXPECT_EQ(ordinary ? t.Encode(text) : t.EncodeWithSpecial(text), want) << text;
      const Tokenizer& tik = testing::O200kFromTiktoken();
      EXPECT_EQ(ordinary ? tik.Encode(text) : tik.EncodeWithSpecial(text), want) << text;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 94);
  EXPECT_EQ(t.vocab_size(), 201088);
}

// Random strings: ASCII-heavy text, arbitrary bytes, and code points from several scripts.
std::string RandomString(std::mt19937& rng) {
  static const std::vector<std::string> kUnits = {"a",
                                                  "Z",
                                                  "7",
                                                  " ",
                                                  "  ",
                                                  "\n",
                                                  "\t",
                                                  "'s",
                                                  "'LL",
                                                  "!",
                                                  "...",
                                                  "\xc3\xa9",
                                                  "\xe4\xb8\xad",
                                                  "\xed\x95\x9c",
                                                  "\xd0\x96",
                                                  "\xd8\xb9",
                                                  "\xf0\x9f\x98\x80",
                                                  "\xe2\x80\x8d",
                                                  "\xcc\x81",
                                                  "\xc2\xa0",
                                                  "<|start|>",
                                                  "hello",
                                                  " world",
                                                  "123456"};
  std::string s;
  const int n = int(rng() % 30);
  for (int i = 0; i < n; ++i) {
    const uint32_t r = rng();
    if (r % 5 == 0) {
      s.push_back(char(r >> 8));  // any byte, valid UTF-8 or not
    } else {
      s += kUnits[(r >> 8) % kUnits.size()];
    }
  }
  return s;
}

TEST(HfTokenizerWriter, RandomStringsGiveTheSameIdsAsBothLoaders) {
  const Tokenizer& t = Written();
  const Tokenizer& tik = testing::O200kFromTiktoken();
  const Tokenizer& ref = testing::O200kFromHfJson();
  std::mt19937 rng(2024);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = RandomString(rng);
    const std::vector<int32_t> ids = t.Encode(s);
    ASSERT_EQ(ids, tik.Encode(s)) << "case " << i;
    ASSERT_EQ(ids, ref.Encode(s)) << "case " << i;
    ASSERT_EQ(t.EncodeWithSpecial(s), tik.EncodeWithSpecial(s)) << "case " << i;
  }
}

TEST(HfTokenizerWriter, MergesAreOrderedByMergedRankThenPartRanks) {
  // 0:a 1:b 2:c 3:ab 4:bc 5:abc (splits a|bc and ab|c) 6:cab (c|ab only: "ca" is no token).
  const std::vector<std::string> ranks = {"a", "b", "c", "ab", "bc", "abc", "cab"};
  const auto merges = DeriveBpeMerges(ranks);
  const std::vector<std::pair<int32_t, int32_t>> want = {{0, 1}, {1, 2}, {0, 4}, {3, 2}, {2, 3}};
  EXPECT_EQ(merges, want);
}

TEST(HfTokenizerWriter, ByteLevelAlphabet) {
  EXPECT_EQ(ByteLevelEncode(" "), "\xc4\xa0");   // Ġ
  EXPECT_EQ(ByteLevelEncode("\n"), "\xc4\x8a");  // Ċ
  EXPECT_EQ(ByteLevelEncode("a!~"), "a!~");
  EXPECT_EQ(ByteLevelEncode("\xad"), "\xc5\x83");  // the last remapped byte: U+0143
  EXPECT_EQ(ByteLevelEncode("\xff"), "\xc3\xbf");  // printable Latin-1 maps to itself
}

TEST(HfTokenizerWriter, ErrorsNameTheProblem) {
  HfTokenizerJsonSpec spec;
  EXPECT_NE(MakeHfTokenizerJson(spec).status().message().find("empty"), std::string::npos);
  spec.ranks = {"a", "b", "a"};
  EXPECT_NE(MakeHfTokenizerJson(spec).status().message().find("token 2 repeats"),
            std::string::npos);
  spec.ranks = {"a", "b"};
  spec.specials = {{"<|x|>", 1}};
  EXPECT_NE(MakeHfTokenizerJson(spec).status().message().find("<|x|>"), std::string::npos);
  spec.specials = {{"<|x|>", 2}, {"<|y|>", 2}};
  EXPECT_NE(MakeHfTokenizerJson(spec).status().message().find("id 2 is used twice"),
            std::string::npos);
  EXPECT_FALSE(ReadTiktokenRanks("/nonexistent/ranks.tiktoken").ok());
}

TEST(HfTokenizerWriter, SmallSpecLoadsAndEncodes) {
  HfTokenizerJsonSpec spec;
  for (int b = 0; b < 256; ++b) spec.ranks.push_back(std::string(1, char(b)));
  spec.ranks.push_back("he");
  spec.ranks.push_back("ll");
  spec.ranks.push_back("hell");
  spec.ranks.push_back("hello");
  spec.pattern = std::string(tokenizer_internal::kO200kPattern);
  spec.specials = {{"<|end|>", 260}};
  const std::string dir = testing::MakeTempDir("hf-tokenizer-small");
  ASSERT_TRUE(WriteHfTokenizerJson(spec, dir + "/tokenizer.json").ok());
  auto t = Tokenizer::FromHfJson(dir + "/tokenizer.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->Encode("hello"), (std::vector<int32_t>{259}));
  EXPECT_EQ((*t)->Encode("hellx"), (std::vector<int32_t>{258, 'x'}));
  EXPECT_EQ((*t)->EncodeWithSpecial("<|end|>"), (std::vector<int32_t>{260}));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace atom
