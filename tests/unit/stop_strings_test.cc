#include "engine/stop_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace atom {
namespace {

// Whether `s` is a sequence of whole, well-formed UTF-8 characters.
bool IsWholeUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    const size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

struct Outcome {
  std::string streamed;  // everything Push and Flush returned, concatenated
  std::string matched_stop;
  bool matched = false;
};

// Pushes `pieces` one by one (then Flush). Checks on the way that what was streamed is always
// a prefix of `final_text`, made of whole UTF-8 characters when `utf8` is set.
Outcome Run(const std::vector<std::string>& stops, bool include,
            const std::vector<std::string>& pieces, const std::string& final_text,
            bool utf8 = false) {
  StopStringMatcher m(stops, include);
  Outcome o;
  for (const std::string& piece : pieces) {
    const std::string out = m.Push(piece);
    if (utf8) EXPECT_TRUE(IsWholeUtf8(out)) << "piece '" << piece << "' streamed '" << out << "'";
    o.streamed += out;
    EXPECT_EQ(final_text.compare(0, o.streamed.size(), o.streamed), 0)
        << "streamed '" << o.streamed << "' is not a prefix of '" << final_text << "'";
    EXPECT_EQ(m.num_streamed(), o.streamed.size());
  }
  o.streamed += m.Flush();
  EXPECT_EQ(m.text(), o.streamed);
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Flush(), "");
  o.matched = m.matched();
  o.matched_stop = m.matched_stop();
  return o;
}

// The text split at every pair of points (three pieces, some empty) gives the same outcome.
void ExpectAtEverySplit(const std::vector<std::string>& stops, bool include,
                        const std::string& text, const std::string& final_text,
                        const std::string& matched_stop, bool utf8 = false) {
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      const Outcome o =
          Run(stops, include, {text.substr(0, i), text.substr(i, j - i), text.substr(j)},
              final_text, utf8);
      ASSERT_EQ(o.streamed, final_text) << "split at " << i << ", " << j;
      ASSERT_EQ(o.matched_stop, matched_stop) << "split at " << i << ", " << j;
      ASSERT_EQ(o.matched, !matched_stop.empty());
    }
  }
  // One byte at a time.
  std::vector<std::string> bytes;
  for (char c : text) bytes.push_back(std::string(1, c));
  EXPECT_EQ(Run(stops, include, bytes, final_text, false).streamed, final_text);
}

TEST(StopStringTest, CutsAtTheStopStringAcrossEverySplit) {
  ExpectAtEverySplit({"</end>"}, false, "hello</end>world", "hello", "</end>");
  ExpectAtEverySplit({"</end>"}, true, "hello</end>world", "hello</end>", "</end>");
  ExpectAtEverySplit({"</end>"}, false, "</end>", "", "</end>");
  ExpectAtEverySplit({"</end>"}, false, "hello </en d>", "hello </en d>", "");
}

TEST(StopStringTest, ReportsMatchOffsetAndStop) {
  StopStringMatcher m({"STOP", "x"}, false);
  EXPECT_EQ(m.Push("abc ST"), "abc ");
  EXPECT_FALSE(m.matched());
  EXPECT_EQ(m.matched_stop(), "");
  EXPECT_EQ(m.Push("OP tail"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.matched_stop(), "STOP");
  EXPECT_EQ(m.match_offset(), 4u);
  EXPECT_EQ(m.text(), "abc ");
}

TEST(StopStringTest, HoldsBackOnlyPossibleStopPrefixes) {
  StopStringMatcher m({"</end>"}, false);
  EXPECT_EQ(m.Push("foo</e"), "foo");
  EXPECT_EQ(m.Push("x"), "</ex");  // no longer a prefix: released
  EXPECT_EQ(m.Push("<"), "");
  EXPECT_EQ(m.Push("/"), "");
  EXPECT_EQ(m.Flush(), "</");  // the end of the output releases the rest
  EXPECT_FALSE(m.matched());
  // With the stop string kept in the output nothing needs holding.
  StopStringMatcher keep({"</end>"}, true);
  EXPECT_EQ(keep.Push("foo</e"), "foo</e");
  EXPECT_EQ(keep.Push("nd>bar"), "nd>");
  EXPECT_EQ(keep.text(), "foo</end>");
}

TEST(StopStringTest, TheFirstCompletedMatchWins) {
  // "bd" completes at byte 4; "abc" never does.
  ExpectAtEverySplit({"abc", "bd"}, false, "xabd", "xa", "bd");
  // "c" completes before "bcd", although "bcd" starts earlier.
  ExpectAtEverySplit({"bcd", "c"}, false, "abcd", "ab", "c");
  // Both complete at the same byte: the longer one.
  ExpectAtEverySplit({"cd", "abcd"}, false, "xabcdy", "x", "abcd");
  ExpectAtEverySplit({"abcd", "cd"}, true, "xabcdy", "xabcd", "abcd");
  // Order in the list does not matter.
  ExpectAtEverySplit({"c", "bcd"}, false, "abcd", "ab", "c");
}

TEST(StopStringTest, OverlappingPrefixes) {
  ExpectAtEverySplit({"aab"}, false, "aaab", "a", "aab");
  ExpectAtEverySplit({"abab"}, false, "abababx", "", "abab");
  ExpectAtEverySplit({"abac"}, false, "ababac!", "ab", "abac");
  ExpectAtEverySplit({"aa", "aab"}, false, "baab", "b", "aa");
  ExpectAtEverySplit({"xyz", "yy"}, false, "xyxyyz", "xyx", "yy");
  StopStringMatcher m({"aab"}, false);
  EXPECT_EQ(m.Push("a"), "");
  EXPECT_EQ(m.Push("a"), "");
  EXPECT_EQ(m.Push("a"), "a");  // "aa" may still start "aab"; the first "a" cannot
  EXPECT_EQ(m.Push("b"), "");
  EXPECT_EQ(m.text(), "a");
}

TEST(StopStringTest, NoStopStringsStreamEverything) {
  StopStringMatcher m({}, false);
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_EQ(m.Push(""), "");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_EQ(m.text(), "abc");
}

TEST(StopStringTest, NeverSplitsUtf8Characters) {
  // "€" is E2 82 AC, "é" C3 A9, "😀" F0 9F 98 80.
  const std::string text = "a\xE2\x82\xAC\xC3\xA9\xF0\x9F\x98\x80z";
  // No stop string: a character arriving byte by byte is streamed once complete.
  ExpectAtEverySplit({"##"}, false, text, text, "", /*utf8=*/true);
  // Stop strings match on bytes, even one that ends inside a character; what streams is
  // still whole characters.
  ExpectAtEverySplit({"\xC3\xA9\xF0"}, false, text, "a\xE2\x82\xAC", "\xC3\xA9\xF0", true);
  ExpectAtEverySplit({"\xE2\x82\xAC!"}, false, text, text, "", true);
  StopStringMatcher m({"\xE2\x82\xAC!"}, false);
  EXPECT_EQ(m.Push("x\xE2"), "x");
  EXPECT_EQ(m.Push("\x82\xAC"), "");  // "€" could still begin "€!"
  EXPECT_EQ(m.Push("?"), "\xE2\x82\xAC?");
  EXPECT_EQ(m.Push("\xF0\x9F"), "");  // an incomplete character is held
  EXPECT_EQ(m.Push("\x98\x80"), "\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace atom
