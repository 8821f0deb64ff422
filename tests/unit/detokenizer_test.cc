// IncrementalDetokenizer and Utf8Sanitize: streaming text that is always complete UTF-8, and
// Python-compatible replacement of ill-formed bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"

namespace atom {
namespace {

using testing::O200kFromTiktoken;

const std::string kFffd = "\xEF\xBF\xBD";

struct SanitizeCase {
  std::string in;
  std::string want;
  const char* what;
};

// Each expectation is what Python's bytes.decode("utf-8", errors="replace") returns.
TEST(Utf8Sanitize, MatchesPythonReplaceOnHandWrittenCases) {
  const std::string F = kFffd;
  const std::vector<SanitizeCase> cases = {
      {"", "", "empty"},
      {"plain ascii", "plain ascii", "ascii"},
      {"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80",
       "valid 2/3/4"},
      {"\x80", F, "stray continuation"},
      {"a\x80\x80"
       "b",
       "a" + F + F + "b", "two stray continuations"},
      {"\xC0\xAF", F + F, "overlong '/' (C0 never valid)"},
      {"\xC1\xBF", F + F, "overlong C1"},
      {"\xE0\x80\xAF", F + F + F, "overlong 3-byte: E0 then 80 out of range"},
      {"\xF0\x80\x80\xAF", F + F + F + F, "overlong 4-byte"},
      {"\xED\xA0\x80", F + F + F, "surrogate U+D800"},
      {"\xED\xBF\xBF", F + F + F, "surrogate U+DFFF"},
      {"\xED\x9F\xBF", "\xED\x9F\xBF", "U+D7FF is fine"},
      {"\xF4\x90\x80\x80", F + F + F + F, "above U+10FFFF"},
      {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF", "U+10FFFF is fine"},
      {"\xF5\x80", F + F, "F5 lead"},
      {"\xFF\xFE", F + F, "FF FE"},
      {"\xF0\x9F\x98", F, "truncated 4-byte at the end: one replacement"},
      {"\xF0\x9F\x98"
       "a",
       F + "a", "truncated 4-byte before ascii"},
      {"\xF0\x9F"
       "\xF0\x9F\x98\x80",
       F + "\xF0\x9F\x98\x80", "truncated then valid"},
      {"\xE4\xB8", F, "truncated 3-byte"},
      {"\xE4"
       "a\xB8",
       F + "a" + F, "broken 3-byte"},
      {"\xC3", F, "lone 2-byte lead"},
      {"\xE0\xA0", F, "truncated E0 A0"},
      {"\xE0\x9F\x80", F + F + F, "E0 9F is out of range"},
      {"\xF0\x90\x80"
       "\xF0",
       F + F, "two truncated"},
  };
  for (const SanitizeCase& c : cases) EXPECT_EQ(Utf8Sanitize(c.in), c.want) << c.what;
}

TEST(Detokenizer, HoldsBackACharacterSplitAcrossTokens) {
  const Tokenizer& t = O200kFromTiktoken();
  // 132990 = "Chicken", 9552 = " \xf0\x9f": the emoji's first half.
  IncrementalDetokenizer d(t);
  auto a = d.Push(132990);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "Chicken");
  auto b = d.Push(9552);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, " ");  // the incomplete "\xf0\x9f" is held back
  // The rest of the chicken emoji.
  const std::vector<int32_t> rest = t.Encode("\xf0\x9f\x90\x94");
  std::string text;
  const std::vector<int32_t> whole = t.Encode("Chicken \xf0\x9f\x90\x94!");
  IncrementalDetokenizer d2(t);
  for (int32_t id : whole) {
    auto piece = d2.Push(id);
    ASSERT_TRUE(piece.ok());
    text += *piece;
  }
  text += d2.Flush();
  EXPECT_EQ(text, "Chicken \xf0\x9f\x90\x94!");
  // Flushing an incomplete tail gives one replacement character.
  EXPECT_EQ(d.Flush(), kFffd);
  EXPECT_EQ(d.Flush(), "");
}

TEST(Detokenizer, RejectsUnknownIdsWithoutChangingState) {
  const Tokenizer& t = O200kFromTiktoken();
  IncrementalDetokenizer d(t);
  ASSERT_TRUE(d.Push(9552).ok());
  EXPECT_FALSE(d.Push(-1).ok());
  EXPECT_FALSE(d.Push(t.vocab_size()).ok());
  EXPECT_EQ(d.Flush(), kFffd);
}

TEST(Detokenizer, InvalidBytesBecomeReplacementAtOnce) {
  const Tokenizer& t = O200kFromTiktoken();
  // A stray continuation byte can never become valid: it is replaced as soon as it arrives.
  const std::vector<int32_t> ids = t.Encode("a\x80");
  IncrementalDetokenizer d(t);
  std::string text;
  for (int32_t id : ids) {
    auto piece = d.Push(id);
    ASSERT_TRUE(piece.ok());
    text += *piece;
  }
  EXPECT_EQ(text, "a" + kFffd);
  EXPECT_EQ(d.Flush(), "");
}

TEST(Detokenizer, RandomStreamsReproduceTheTextExactly) {
  const Tokenizer& t = O200kFromTiktoken();
  std::mt19937 rng(2024);
  const std::vector<std::string> alphabet = {"a",
                                             "Z",
                                             " ",
                                             "\n",
                                             "7",
                                             "\xC3\xA9",
                                             "\xE4\xB8\xAD",
                                             "\xE6\x96\x87",
                                             "\xF0\x9F\x98\x80",
                                             "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9",
                                             "\xCC\x81",
                                             "\xE2\x80\x94",
                                             "<|start|>"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const size_t n = rng() % 30;
    for (size_t k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
    const std::vector<int32_t> ids = i % 2 ? t.Encode(s) : t.EncodeWithSpecial(s);
    IncrementalDetokenizer d(t);
    std::string text;
    for (int32_t id : ids) {
      auto piece = d.Push(id);
      ASSERT_TRUE(piece.ok());
      // Every emitted chunk is valid UTF-8 on its own.
      ASSERT_EQ(Utf8Sanitize(*piece), *piece);
      text += *piece;
    }
    text += d.Flush();
    ASSERT_EQ(text, s) << "case " << i;
  }
}

TEST(Detokenizer, RandomBytesMatchSanitizeOfTheWhole) {
  // Whatever the bytes, the stream's concatenation equals sanitizing everything at once.
  const Tokenizer& t = O200kFromTiktoken();
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) {
      const uint32_t r = rng();
      s += static_cast<char>(r % 3 == 0 ? 'a' + r % 26 : 0x80 + (r >> 8) % 0x80);
    }
    IncrementalDetokenizer d(t);
    std::string text;
    for (int32_t id : t.Encode(s)) {
      auto piece = d.Push(id);
      ASSERT_TRUE(piece.ok());
      text += *piece;
    }
    text += d.Flush();
    ASSERT_EQ(text, Utf8Sanitize(s)) << "case " << i;
  }
}

}  // namespace
}  // namespace atom
