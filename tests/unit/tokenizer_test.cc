// Tokenizer (spec §5): the o200k test vectors through both loaders, the pre-tokenizer's pieces,
// round trips of random bytes and text, special tokens, decode errors and loader errors.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "test_paths.h"
#include "tokenizer/bpe_merge.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/o200k.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer_fixtures.h"

namespace atom {
namespace {

using testing::O200kFromHfJson;
using testing::O200kFromTiktoken;
using testing::O200kVectors;
using ::testing::TestWithParam;

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" lacks \"" << part << "\"";
}

const Tokenizer& Loaded(const std::string& which) {
  return which == "tiktoken" ? O200kFromTiktoken() : O200kFromHfJson();
}

std::string AppendUtf8(std::string s, uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Random bytes: uniform, or fragments of UTF-8 and ASCII mixed with stray high bytes.
std::string RandomBytes(std::mt19937& rng) {
  const size_t n = rng() % 80;
  std::string s;
  const bool ascii_heavy = rng() % 2 == 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng();
    s += static_cast<char>(ascii_heavy && r % 4 != 0 ? 0x20 + (r >> 8) % 95 : (r >> 8) & 0xFF);
  }
  return s;
}

// Random text over the character classes the regex distinguishes.
std::string RandomUnicode(std::mt19937& rng) {
  struct Range {
    uint32_t first, count;
  };
  static const std::vector<Range> kRanges = {
      {'a', 26},        {'A', 26}, {'0', 10}, {0x21, 15},  // ASCII classes
      {0x300, 0x70},                                       // combining marks
      {0x4E00, 0x5200},                                    // CJK
      {0xAC00, 0x2BA4},                                    // Hangul
      {0x0400, 0x100},                                     // Cyrillic
      {0x0600, 0x100},                                     // Arabic
      {0, 0x110000},                                       // any plane
  };
  static const std::vector<uint32_t> kSpecialChars = {
      '\t',   '\n',   '\v',   '\f',   '\r',   ' ',    0x85,   0xA0,   0x1680, 0x2000,
      0x2005, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x200B, 0xFEFF,  // spaces
      0x660,  0x669,  0x2160, 0xBD,   0xB2,   0x17F,  0x130};  // digits, numbers, odd letters
  static const std::vector<std::string> kContractions = {"'s", "'T", "'re", "'LL",
                                                         "'d", "'m", "'ve"};
  const size_t n = rng() % 40;
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng(), kind = r % 13, arg = r >> 8;
    if (kind < kRanges.size()) {
      uint32_t cp = kRanges[kind].first + arg % kRanges[kind].count;
      if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;  // no surrogates
      s = AppendUtf8(s, cp);
    } else if (kind == 10) {
      s = AppendUtf8(s, kSpecialChars[arg % kSpecialChars.size()]);
    } else if (kind == 11) {
      s += kContractions[arg % kContractions.size()];
    } else {  // emoji, sometimes joined (ZWJ) or skin-toned
      s = AppendUtf8(s, 0x1F600 + arg % 0x50);
      if ((r >> 20) % 3 == 0) s = AppendUtf8(s, 0x200D);
      if ((r >> 22) % 3 == 0) s = AppendUtf8(s, 0x1F3FB + (r >> 24) % 5);
    }
  }
  return s;
}

class TokenizerLoaders : public TestWithParam<std::string> {};

TEST_P(TokenizerLoaders, AllTestVectorsGiveTheExpectedIds) {
  const Tokenizer& t = Loaded(GetParam());
  int checked = 0;
  for (const auto& group : O200kVectors()["groups"]) {
    for (const auto& c : group["cases"]) {
      const std::string text = c["text"];
      const std::vector<int32_t> want = c["ids"];
      const std::string mode = c["mode"];
      const std::vector<int32_t> got =
          mode == "ordinary" ? t.Encode(text) : t.EncodeWithSpecial(text);
      EXPECT_EQ(got, want) << group["name"] << ": " << text;
      auto decoded = t.Decode(got);
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      EXPECT_EQ(*decoded, text);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 94);
}

TEST_P(TokenizerLoaders, Anchors) {
  const Tokenizer& t = Loaded(GetParam());
  EXPECT_EQ(t.Encode("hello world"), (std::vector<int32_t>{24912, 2375}));
  EXPECT_EQ(t.Encode("<|start|>"), (std::vector<int32_t>{27, 91, 5236, 91, 29}));
  EXPECT_EQ(t.EncodeWithSpecial("<|start|>"), (std::vector<int32_t>{200006}));
  EXPECT_EQ(t.Encode("analysis"), (std::vector<int32_t>{35644}));
  EXPECT_EQ(t.Encode("commentary"), (std::vector<int32_t>{12606, 815}));
  EXPECT_EQ(t.Encode(""), (std::vector<int32_t>{}));
  EXPECT_EQ(t.vocab_size(), 201088);
}

TEST_P(TokenizerLoaders, RandomBytesAndTextRoundTrip) {
  const Tokenizer& t = Loaded(GetParam());
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = i % 2 == 0 ? RandomBytes(rng) : RandomUnicode(rng);
    const std::vector<int32_t> ids = t.Encode(s);
    for (int32_t id : ids) ASSERT_LT(id, 199998);
    auto decoded = t.Decode(ids);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ASSERT_EQ(*decoded, s) << "case " << i;
    auto with_special = t.Decode(t.EncodeWithSpecial(s));
    ASSERT_TRUE(with_special.ok());
    ASSERT_EQ(*with_special, s) << "case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, TokenizerLoaders, ::testing::Values("tiktoken", "hf_json"));

TEST(TokenizerLoadersAgree, SameIdsOnRandomInput) {
  const Tokenizer& a = O200kFromTiktoken();
  const Tokenizer& b = O200kFromHfJson();
  std::mt19937 rng(99);
  for (int i = 0; i < 4000; ++i) {
    std::string s = i % 2 == 0 ? RandomBytes(rng) : RandomUnicode(rng);
    if (i % 7 == 0) s += "<|start|>assistant<|channel|>final<|message|>" + s + "<|return|>";
    ASSERT_EQ(a.Encode(s), b.Encode(s)) << "case " << i;
    ASSERT_EQ(a.EncodeWithSpecial(s), b.EncodeWithSpecial(s)) << "case " << i;
  }
  for (int32_t id = 0; id < a.vocab_size(); ++id) {
    ASSERT_EQ(a.TokenBytes(id), b.TokenBytes(id)) << id;
    ASSERT_EQ(a.IsSpecial(id), b.IsSpecial(id)) << id;
  }
}

TEST(TokenizerLoadersAgree, LongRunsOfOneCharacter) {
  const Tokenizer& a = O200kFromTiktoken();
  const Tokenizer& b = O200kFromHfJson();
  for (const std::string unit :
       {"a", " ", "1", "\xe4\xb8\xad", "!", "\n", "ab", "\xf0\x9f\x98\x80"}) {
    std::string s;
    while (s.size() < 100000) s += unit;
    const std::vector<int32_t> ids = a.Encode(s);
    EXPECT_EQ(ids, b.Encode(s)) << unit;
    auto decoded = a.Decode(ids);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, s);
  }
}

TEST(TokenizerBpe, LongPieceMergeEqualsShortPieceMerge) {
  // The heap merge (long pieces) must pick exactly what the array scan picks.
  const Tokenizer& t = O200kFromTiktoken();
  std::unordered_map<std::string_view, int32_t> ranks;
  for (int32_t id = 0; id < 199998; ++id) ranks.emplace(t.TokenBytes(id), id);
  int32_t byte_ids[256];
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    byte_ids[b] = ranks.at(std::string_view(&c, 1));
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string piece;
    const size_t n = 1 + rng() % tokenizer_internal::kSmallPieceBytes;
    const std::string alphabet = i % 2 ? "abcdeilnorst" : "aaaaab ";
    for (size_t k = 0; k < n; ++k) piece += alphabet[rng() % alphabet.size()];
    const auto pair = [&](uint32_t start, int32_t, int32_t, uint32_t end) {
      auto it = ranks.find(std::string_view(piece).substr(start, end - start));
      using tokenizer_internal::PairMap;
      return it == ranks.end() ? PairMap::Value{PairMap::kNoRank, -1}
                               : PairMap::Value{static_cast<uint32_t>(it->second), it->second};
    };
    std::vector<int32_t> small, large;
    tokenizer_internal::MergeSmallPiece(piece, byte_ids, pair, &small);
    tokenizer_internal::MergeLargePiece(piece, byte_ids, pair, &large);
    ASSERT_EQ(small, large) << piece;
  }
}

TEST(TokenizerSpecial, HarmonyNamesAndIds) {
  const Tokenizer& t = O200kFromTiktoken();
  const std::vector<std::pair<std::string, int32_t>> named = {{"<|startoftext|>", 199998},
                                                              {"<|endoftext|>", 199999},
                                                              {"<|return|>", 200002},
                                                              {"<|constrain|>", 200003},
                                                              {"<|channel|>", 200005},
                                                              {"<|start|>", 200006},
                                                              {"<|end|>", 200007},
                                                              {"<|message|>", 200008},
                                                              {"<|call|>", 200012},
                                                              {"<|endofprompt|>", 200018},
                                                              {"<|reserved_200000|>", 200000},
                                                              {"<|reserved_200001|>", 200001},
                                                              {"<|reserved_200004|>", 200004},
                                                              {"<|reserved_200009|>", 200009},
                                                              {"<|reserved_200010|>", 200010},
                                                              {"<|reserved_200011|>", 200011},
                                                              {"<|reserved_200013|>", 200013},
                                                              {"<|reserved_200017|>", 200017},
                                                              {"<|reserved_200019|>", 200019},
                                                              {"<|reserved_200500|>", 200500},
                                                              {"<|reserved_201087|>", 201087}};
  ASSERT_EQ(named.size(), 21u);
  for (const auto& [text, id] : named) {
    EXPECT_EQ(t.SpecialTokenId(text), id) << text;
    EXPECT_TRUE(t.IsSpecial(id)) << id;
    EXPECT_EQ(t.TokenBytes(id), text);
    EXPECT_EQ(t.EncodeWithSpecial(text), std::vector<int32_t>{id}) << text;
    for (int32_t got : t.Encode(text)) EXPECT_LT(got, 199998) << text;
    auto decoded = t.Decode(std::vector<int32_t>{id});
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(t.SpecialTokenId("<|reserved_200002|>"), std::nullopt);  // that id is <|return|>
  EXPECT_EQ(t.SpecialTokenId("<|reserved_201088|>"), std::nullopt);
  EXPECT_EQ(t.SpecialTokenId("hello"), std::nullopt);
  EXPECT_FALSE(t.IsSpecial(24912));
  EXPECT_FALSE(t.IsSpecial(199997));
  EXPECT_FALSE(t.IsSpecial(-1));
  EXPECT_FALSE(t.IsSpecial(201088));
}

TEST(TokenizerSpecial, SplitsAtSpecialsAndEncodesGapsOrdinarily) {
  const Tokenizer& t = O200kFromTiktoken();
  std::vector<int32_t> want = {200006};
  for (int32_t id : t.Encode("user")) want.push_back(id);
  want.push_back(200008);
  for (int32_t id : t.Encode("hi <|bogus|> <|start")) want.push_back(id);
  want.push_back(200007);
  EXPECT_EQ(t.EncodeWithSpecial("<|start|>user<|message|>hi <|bogus|> <|start<|end|>"), want);
  // Adjacent specials, and text that is a special's prefix.
  EXPECT_EQ(t.EncodeWithSpecial("<|end|><|start|><|"),
            (std::vector<int32_t>{200007, 200006, 27, 91}));
}

TEST(TokenizerSpecial, PrefersTheLongestSpecialAtAPosition) {
  auto t = Tokenizer::FromTiktoken(testing::O200kRanksPath(),
                                   std::string(tokenizer_internal::kO200kPattern),
                                   {{"<|a", 300000}, {"<|a|>", 300001}, {"b|>", 300002}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->EncodeWithSpecial("<|a|>"), (std::vector<int32_t>{300001}));
  EXPECT_EQ((*t)->EncodeWithSpecial("<|ab|>"), (std::vector<int32_t>{300000, 300002}));
  // Ids 199998..299999 exist but are unused.
  auto unused = (*t)->Decode(std::vector<int32_t>{15, 250000});
  ASSERT_FALSE(unused.ok());
  EXPECT_TRUE(Contains(unused.status().message(), "position 1"));
  EXPECT_TRUE(Contains(unused.status().message(), "unused"));
}

TEST(TokenizerDecode, RejectsIdsOutsideTheVocabularyNamingThePosition) {
  const Tokenizer& t = O200kFromTiktoken();
  auto a = t.Decode(std::vector<int32_t>{24912, -1});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(a.status().message(), "position 1"));
  auto b = t.Decode(std::vector<int32_t>{201088});
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.status().message(), "position 0"));
  EXPECT_TRUE(Contains(b.status().message(), "201088"));
  auto ok = t.Decode(std::vector<int32_t>{132990, 9552});  // ends inside a character
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "Chicken \xf0\x9f");
}

// --- loader errors -------------------------------------------------------------------------

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = testing::MakeTempDir("atom-tok") + "/" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

std::string TiktokenError(const std::string& contents) {
  const std::string path = WriteTemp("ranks.tiktoken", contents);
  auto t = Tokenizer::FromTiktoken(path, "\\S+|\\s+", {});
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_TRUE(Contains(t.status().message(), path));
  return t.status().message();
}

// All 256 single bytes, ranks 0..255.
std::string ByteRanks() {
  static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  for (int b = 0; b < 256; ++b) {
    s += kB64[b >> 2];
    s += kB64[(b & 3) << 4];
    s += "== " + std::to_string(b) + "\n";
  }
  return s;
}

TEST(TokenizerLoaderErrors, Tiktoken) {
  auto missing = Tokenizer::O200kHarmony("/nonexistent/o200k_base.tiktoken");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "/nonexistent/o200k_base.tiktoken"));

  EXPECT_TRUE(
      Contains(TiktokenError("IQ== 0\nI*== 1\n"), ":2: token \"I*==\" is not valid base64"));
  EXPECT_TRUE(Contains(TiktokenError("IQ== 0\nIg== 2\n"), ":2: rank 2 breaks the sequence"));
  EXPECT_TRUE(Contains(TiktokenError("IQ== 0\nIg==\n"), ":2: expected"));
  EXPECT_TRUE(Contains(TiktokenError("IQ== 0\nIg== x1\n"), ":2: rank \"x1\" is not a number"));
  EXPECT_TRUE(Contains(TiktokenError("IQ== 0\n"), "no token for the single byte 0x00"));
  EXPECT_TRUE(Contains(TiktokenError(ByteRanks() + "IQ== 256\n"), "token 256 has the same bytes"));
  EXPECT_TRUE(Contains(TiktokenError(""), "no tokens"));

  const std::string path = WriteTemp("ranks.tiktoken", ByteRanks() + "YWI= 256\n");
  auto bad_regex = Tokenizer::FromTiktoken(path, "(", {});
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_TRUE(Contains(bad_regex.status().message(), "regex"));
  auto clash = Tokenizer::FromTiktoken(path, "\\S+|\\s+", {{"<|x|>", 256}});
  ASSERT_FALSE(clash.ok());
  EXPECT_TRUE(Contains(clash.status().message(), "<|x|> has id 256"));
  auto good = Tokenizer::FromTiktoken(path, "\\S+|\\s+", {{"<|x|>", 257}});
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)->Encode("abab"), (std::vector<int32_t>{256, 256}));
  EXPECT_EQ((*good)->EncodeWithSpecial("ab<|x|>"), (std::vector<int32_t>{256, 257}));
}

// GPT-2's bytes_to_unicode() as UTF-8 strings, for building small tokenizer.json files.
std::string ByteLevel(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const int b = static_cast<uint8_t>(c);
    int cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      cp = 256;
      for (int k = 0; k < b; ++k) {
        if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE)) ++cp;
      }
    }
    out = AppendUtf8(out, static_cast<uint32_t>(cp));
  }
  return out;
}

// A tiny valid tokenizer.json: the 256 bytes (id = byte), "bc" = 256, "ab" = 257, merges
// (a, b) before (b, c), and one special token.
nlohmann::json TinyHfJson() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteLevel(std::string(1, static_cast<char>(b)))] = b;
  vocab["bc"] = 256;
  vocab["ab"] = 257;
  nlohmann::json j = {{"version", "1.0"},
                      {"truncation", nullptr},
                      {"padding", nullptr},
                      {"normalizer", nullptr},
                      {"added_tokens", nlohmann::json::array({nlohmann::json{{"id", 258},
                                                                             {"content", "<|x|>"},
                                                                             {"single_word", false},
                                                                             {"lstrip", false},
                                                                             {"rstrip", false},
                                                                             {"normalized", false},
                                                                             {"special", true}}})},
                      {"pre_tokenizer",
                       {{"type", "Sequence"},
                        {"pretokenizers", nlohmann::json::array(
                                              {nlohmann::json{{"type", "Split"},
                                                              {"pattern", {{"Regex", "\\S+|\\s+"}}},
                                                              {"behavior", "Isolated"},
                                                              {"invert", false}},
                                               nlohmann::json{{"type", "ByteLevel"},
                                                              {"add_prefix_space", false},
                                                              {"trim_offsets", true},
                                                              {"use_regex", false}}})}}},
                      {"post_processor", nullptr},
                      {"decoder", {{"type", "ByteLevel"}}},
                      {"model",
                       {{"type", "BPE"},
                        {"dropout", nullptr},
                        {"unk_token", nullptr},
                        {"continuing_subword_prefix", nullptr},
                        {"end_of_word_suffix", nullptr},
                        {"fuse_unk", false},
                        {"byte_fallback", false},
                        {"ignore_merges", true},
                        {"vocab", vocab},
                        {"merges", nlohmann::json::array({nlohmann::json::array({"a", "b"}),
                                                          nlohmann::json::array({"b", "c"})})}}}};
  return j;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadHf(const std::string& text) {
  const std::string dir = testing::MakeTempDir("atom-hf");
  std::ofstream(dir + "/tokenizer.json", std::ios::binary) << text;
  return Tokenizer::FromModelDir(dir);
}

TEST(TokenizerHfJson, MergeRankIsTheMergeIndexNotTheId) {
  auto t = LoadHf(TinyHfJson().dump());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  // (a, b) is merge 0 although "ab" has the larger id: HF semantics give [ab, c].
  EXPECT_EQ((*t)->Encode("abc"), (std::vector<int32_t>{257, 'c'}));
  EXPECT_EQ((*t)->Encode("bc"), (std::vector<int32_t>{256}));
  EXPECT_EQ((*t)->EncodeWithSpecial("ab<|x|>"), (std::vector<int32_t>{257, 258}));
  EXPECT_TRUE((*t)->IsSpecial(258));
  // The older "left right" string form of merges means the same.
  nlohmann::json j = TinyHfJson();
  j["model"]["merges"] = nlohmann::json::array({"a b", "b c"});
  auto old_form = LoadHf(j.dump());
  ASSERT_TRUE(old_form.ok()) << old_form.status().ToString();
  EXPECT_EQ((*old_form)->Encode("abc"), (std::vector<int32_t>{257, 'c'}));
}

std::string HfError(const std::string& text) {
  auto t = LoadHf(text);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_TRUE(Contains(t.status().message(), "tokenizer.json"));
  return t.status().message();
}

TEST(TokenizerHfJson, ErrorsNameTheField) {
  auto missing = Tokenizer::FromModelDir("/nonexistent");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  // Syntax errors name the line.
  std::string text = TinyHfJson().dump(1);
  const size_t bc = text.find("\"bc\": 256");
  ASSERT_NE(bc, std::string::npos);
  text.replace(bc, 9, "\"bc\": ,");
  const std::string line = std::to_string(1 + std::count(text.begin(), text.begin() + bc, '\n'));
  EXPECT_TRUE(Contains(HfError(text), "model.vocab: line " + line + ": expected an integer"));
  EXPECT_TRUE(Contains(HfError("{\"a\": 1\n\"b\": 2}"), "line 2: expected ','"));
  EXPECT_TRUE(Contains(HfError("[1, 2]"), "not valid JSON"));
  const auto with = [](auto edit) {
    nlohmann::json j = TinyHfJson();
    edit(j);
    return HfError(j.dump());
  };
  EXPECT_TRUE(Contains(with([](auto& j) { j["model"]["type"] = "WordPiece"; }), "model.type"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["normalizer"] = {{"type", "NFC"}}; }), "normalizer"));
  EXPECT_TRUE(
      Contains(with([](auto& j) { j["model"]["byte_fallback"] = true; }), "model.byte_fallback"));
  EXPECT_TRUE(Contains(with([](auto& j) {
                         j["model"]["merges"][1] = nlohmann::json::array({"b", "zz"});
                       }),
                       "model.merges[1]"));
  EXPECT_TRUE(Contains(with([](auto& j) {
                         j["model"]["merges"][0] = nlohmann::json::array({"a", "c"});
                       }),
                       "model.merges[0]: \"a\" + \"c\" is not in model.vocab"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["model"]["vocab"]["ab"] = "x"; }), "model.vocab"));
  EXPECT_TRUE(
      Contains(with([](auto& j) { j["model"]["vocab"]["a b"] = 300; }), "not a byte-level"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["model"]["vocab"]["ac"] = 256; }), "appears twice"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["added_tokens"][0]["special"] = false; }),
                       "added_tokens[0].special"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["added_tokens"][0]["id"] = 256; }), "added_tokens[0]"));
  EXPECT_TRUE(Contains(with([](auto& j) {
                         j["pre_tokenizer"] = {{"type", "Whitespace"}};
                       }),
                       "pre_tokenizer"));
  EXPECT_TRUE(
      Contains(with([](auto& j) { j["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true; }),
               "pre_tokenizer.pretokenizers[1]"));
  EXPECT_TRUE(Contains(with([](auto& j) {
                         j["post_processor"] = {{"type", "TemplateProcessing"}};
                       }),
                       "post_processor"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["model"].erase("merges"); }), "model.merges: missing"));
  EXPECT_TRUE(Contains(with([](auto& j) { j["model"]["vocab"].erase(ByteLevel("\n")); }),
                       "no token for the single byte 0x0a"));
}

}  // namespace
}  // namespace atom
