#include "tokenizer/o200k_ascii_scan.h"

#include <array>
#include <cstdint>

namespace atom::tokenizer_internal {
namespace {

// ASCII character classes as the regex sees them (\p{L}, \p{N}, \s; Unicode White_Space in
// ASCII is exactly \t \n \v \f \r and space).
enum Class : uint8_t {
  kUpper,     // A-Z
  kLower,     // a-z
  kDigit,     // 0-9
  kNewline,   // \r \n
  kSpace,     // \t \v \f and ' '
  kOther,     // everything else below 0x80: punctuation, symbols, other controls
  kEnd,       // past the end of the text
  kNonAscii,  // >= 0x80: unknown here
};

constexpr std::array<Class, 256> MakeClasses() {
  std::array<Class, 256> c{};
  for (int b = 0; b < 256; ++b) {
    if (b >= 0x80) {
      c[b] = kNonAscii;
    } else if (b >= 'A' && b <= 'Z') {
      c[b] = kUpper;
    } else if (b >= 'a' && b <= 'z') {
      c[b] = kLower;
    } else if (b >= '0' && b <= '9') {
      c[b] = kDigit;
    } else if (b == '\r' || b == '\n') {
      c[b] = kNewline;
    } else if (b == '\t' || b == '\v' || b == '\f' || b == ' ') {
      c[b] = kSpace;
    } else {
      c[b] = kOther;
    }
  }
  return c;
}
constexpr std::array<Class, 256> kClasses = MakeClasses();

struct Scanner {
  std::string_view text;
  Class At(size_t i) const {
    return i < text.size() ? kClasses[static_cast<uint8_t>(text[i])] : kEnd;
  }
  char Lower(size_t i) const { return static_cast<char>(text[i] | 0x20); }
};

constexpr size_t kGiveUp = static_cast<size_t>(-1);

// (?i:'s|'t|'re|'ve|'m|'ll|'d)? at k: its length, or kGiveUp (a non-ASCII letter such as 'ſ'
// case-folds to 's').
size_t Contraction(const Scanner& s, size_t k) {
  if (s.At(k) == kEnd || s.text[k] != '\'') return 0;
  const Class c1 = s.At(k + 1);
  if (c1 == kNonAscii) return kGiveUp;
  if (c1 != kUpper && c1 != kLower) return 0;
  const char l1 = s.Lower(k + 1);
  if (l1 == 's' || l1 == 't' || l1 == 'm' || l1 == 'd') return 2;
  if (l1 != 'r' && l1 != 'v' && l1 != 'l') return 0;
  const Class c2 = s.At(k + 2);
  if (c2 == kNonAscii) return kGiveUp;
  if (c2 != kUpper && c2 != kLower) return 0;
  const char l2 = s.Lower(k + 2);
  return (l1 == 'l' ? l2 == 'l' : l2 == 'e') ? 3 : 0;
}

}  // namespace

size_t MatchO200kAscii(std::string_view text, size_t pos) {
  const Scanner s{text};
  const Class c0 = s.At(pos);
  if (c0 == kNonAscii) return 0;

  // Alternatives 1 and 2: [^\r\n\p{L}\p{N}]? then upper* lower+ or upper+ lower*, then a
  // contraction. In ASCII no character is both upper and lower, so backtracking never helps.
  if (c0 != kDigit && c0 != kNewline) {
    const size_t i = (c0 == kUpper || c0 == kLower) ? pos : pos + 1;
    size_t j = i;
    while (s.At(j) == kUpper) ++j;
    size_t k = j;
    while (s.At(k) == kLower) ++k;
    if (s.At(k) == kNonAscii) return 0;  // the letters might go on
    if (k > i) {
      const size_t c = Contraction(s, k);
      return c == kGiveUp ? 0 : k + c;
    }
  }
  // Alternative 3: \p{N}{1,3}.
  if (c0 == kDigit) {
    size_t j = pos + 1;
    while (j < pos + 3 && s.At(j) == kDigit) ++j;
    if (j < pos + 3 && s.At(j) == kNonAscii) return 0;  // a non-ASCII digit might follow
    return j;
  }
  // Alternative 4: " ?[^\s\p{L}\p{N}]+[\r\n/]*".
  const size_t o = c0 == kSpace && text[pos] == ' ' ? pos + 1 : pos;
  if (s.At(o) == kOther) {
    size_t j = o + 1;
    while (s.At(j) == kOther) ++j;
    if (s.At(j) == kNonAscii) return 0;  // a non-ASCII symbol might follow
    while (s.At(j) == kNewline || (s.At(j) == kOther && text[j] == '/')) ++j;
    return j;
  }
  if (s.At(o) == kNonAscii) return 0;
  if (c0 != kSpace && c0 != kNewline) return 0;  // not reached for valid classes
  // Whitespace: find the run and its last newline.
  size_t e = pos;
  size_t last_newline = kGiveUp;
  for (Class c; (c = s.At(e)) == kSpace || c == kNewline; ++e) {
    if (c == kNewline) last_newline = e;
  }
  if (s.At(e) == kNonAscii) return 0;  // non-ASCII whitespace might continue the run
  // Alternative 5: \s*[\r\n]+ ends just after the run's last newline.
  if (last_newline != kGiveUp) return last_newline + 1;
  // Alternative 6: \s+(?!\S) leaves the last space for the next word; alternative 7: \s+.
  if (e == text.size() || e - pos < 2) return e;
  return e - 1;
}

}  // namespace atom::tokenizer_internal
