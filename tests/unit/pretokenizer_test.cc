// Pretokenizer (spec §5.2): the o200k regex's pieces against the cross-checked vectors and the
// spec's examples, safe handling of gaps and empty matches, and the hand-written ASCII scanner
// against PCRE2 on random text.
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "test_paths.h"
#include "tokenizer/o200k.h"
#include "tokenizer/o200k_ascii_scan.h"
#include "tokenizer_fixtures.h"

namespace atom {
namespace {

using tokenizer_internal::kO200kPattern;
using tokenizer_internal::Pretokenizer;

std::vector<std::string> Pieces(const Pretokenizer& p, const std::string& text) {
  std::vector<std::string> pieces;
  for (std::string_view piece : p.Split(text)) pieces.emplace_back(piece);
  return pieces;
}

TEST(Pretokenizer, CrossCheckedPieces) {
  auto p = Pretokenizer::Create(std::string(kO200kPattern));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  int checked = 0;
  for (const auto& group : testing::O200kVectors()["groups"]) {
    for (const auto& c : group["cases"]) {
      if (!c.contains("pieces")) continue;
      const std::vector<std::string> want = c["pieces"];
      const std::string text = c["text"];
      std::vector<std::string> got;
      for (std::string_view piece : p->Split(text)) got.emplace_back(piece);
      EXPECT_EQ(got, want) << c["text"];
      ++checked;
    }
  }
  EXPECT_EQ(checked, 66);
}

TEST(Pretokenizer, SpecExamplesAndPatternFile) {
  std::ifstream in(testing::DataDir() + "/tokenizer/o200k_pattern.txt", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, kO200kPattern);
  auto p = Pretokenizer::Create(file);
  ASSERT_TRUE(p.ok());
  using V = std::vector<std::string_view>;
  EXPECT_EQ(p->Split("hello  "), (V{"hello", "  "}));
  EXPECT_EQ(p->Split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(p->Split("a \n\n b"), (V{"a", " \n\n", " b"}));
  EXPECT_EQ(p->Split("1234567890"), (V{"123", "456", "789", "0"}));
  EXPECT_EQ(p->Split("DON'T SHOUT"), (V{"DON'T", " SHOUT"}));
  // Invalid UTF-8 matches nothing and becomes pieces of its own, so nothing is lost.
  EXPECT_EQ(p->Split("ab\xff"
                     "cd"),
            (V{"ab", "\xff", "cd"}));
  EXPECT_EQ(p->Split(""), V{});
}

TEST(Pretokenizer, GapsAndEmptyMatchesAreSafe) {
  auto p = Pretokenizer::Create("x*");  // matches empty everywhere
  ASSERT_TRUE(p.ok());
  using V = std::vector<std::string_view>;
  EXPECT_EQ(p->Split("abxxc"), (V{"ab", "xx", "c"}));
  EXPECT_EQ(p->Split("abc"), (V{"abc"}));
  auto bad = Pretokenizer::Create("(unclosed");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("offset"), std::string::npos);
}

// The ASCII scanner must give exactly PCRE2's pieces; text mixes every ASCII class with
// non-ASCII letters, digits, spaces and symbols (which make it defer) and invalid bytes.
TEST(Pretokenizer, AsciiScannerAgreesWithPcre2) {
  auto fast = Pretokenizer::Create(std::string(kO200kPattern));
  auto pcre = Pretokenizer::Create(std::string(kO200kPattern), /*allow_fast_path=*/false);
  ASSERT_TRUE(fast.ok() && pcre.ok());
  const std::vector<std::string> units = {"a",
                                          "z",
                                          "A",
                                          "Z",
                                          "0",
                                          "9",
                                          " ",
                                          " ",
                                          " ",
                                          "\t",
                                          "\n",
                                          "\r",
                                          "\v",
                                          "\f",
                                          "!",
                                          "/",
                                          "'",
                                          "'s",
                                          "'S",
                                          "'re",
                                          "'LL",
                                          "'ve",
                                          "'d",
                                          "'m",
                                          "'t",
                                          "'x",
                                          ".",
                                          "-",
                                          "_",
                                          "\x01",
                                          "\x7f",
                                          "\xc3\xa9",          // é (lower)
                                          "\xc3\x89",          // É (upper)
                                          "\xc5\xbf",          // ſ (folds to s)
                                          "\xc2\xa0",          // no-break space
                                          "\xc2\x85",          // next line (White_Space)
                                          "\xe2\x80\xa8",      // line separator
                                          "\xd9\xa3",          // Arabic-Indic digit three
                                          "\xe4\xb8\xad",      // CJK
                                          "\xcc\x81",          // combining acute
                                          "\xe2\x82\xac",      // euro sign (symbol)
                                          "\xf0\x9f\x98\x80",  // emoji
                                          "\xff",
                                          "\x80"};  // invalid
  std::mt19937 rng(31337);
  for (int i = 0; i < 30000; ++i) {
    std::string text;
    const size_t n = rng() % 24;
    const bool ascii_only = i % 3 == 0;
    for (size_t k = 0; k < n; ++k) {
      text += units[rng() % (ascii_only ? 31 : units.size())];
    }
    ASSERT_EQ(Pieces(*fast, text), Pieces(*pcre, text)) << "case " << i;
  }
  for (const auto& group : testing::O200kVectors()["groups"]) {
    for (const auto& c : group["cases"]) {
      const std::string text = c["text"];
      EXPECT_EQ(Pieces(*fast, text), Pieces(*pcre, text)) << text;
    }
  }
}

TEST(Pretokenizer, AsciiScannerDefersOnNonAscii) {
  using tokenizer_internal::MatchO200kAscii;
  EXPECT_EQ(MatchO200kAscii("hello world", 0), 5u);
  EXPECT_EQ(MatchO200kAscii("hello world", 5), 11u);
  EXPECT_EQ(MatchO200kAscii("caf\xc3\xa9", 0), 0u);  // the word may go on
  EXPECT_EQ(MatchO200kAscii("12\xd9\xa3", 0), 0u);   // a third digit may follow
  EXPECT_EQ(MatchO200kAscii("123\xd9\xa3", 0), 3u);  // but not a fourth
  EXPECT_EQ(MatchO200kAscii("it'\xc5\xbf", 0), 0u);  // 'ſ is a contraction
  EXPECT_EQ(MatchO200kAscii("  \xc2\xa0x", 0), 0u);  // the space run may go on
  EXPECT_EQ(MatchO200kAscii("\xc3\xa9", 0), 0u);
}

}  // namespace
}  // namespace atom
