// UTF-8 scanning shared by Utf8Sanitize and the incremental detokenizer.
//
// Follows the Unicode standard's "maximal subpart" practice (§3.9, U+FFFD substitution), which is
// what Python's bytes.decode("utf-8", errors="replace") implements: an ill-formed sequence is
// replaced by one U+FFFD per maximal prefix of a well-formed sequence (or per single byte when the
// byte can start none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace atom::tokenizer_internal {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

enum class Utf8Kind : uint8_t {
  kValid,      // a complete, well-formed character of `length` bytes
  kInvalid,    // an ill-formed maximal subpart of `length` bytes (>= 1): one U+FFFD
  kTruncated,  // the input ends inside a character that could still become well-formed
};

struct Utf8Step {
  Utf8Kind kind;
  size_t length;
};

// Classifies the sequence starting at s[i]. REQUIRES: i < s.size().
inline Utf8Step NextUtf8(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return {Utf8Kind::kValid, 1};
  size_t need;                   // total length of the sequence b0 starts
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Utf8Kind::kInvalid, 1};  // continuation byte, C0/C1 or F5..FF
  }
  for (size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return {Utf8Kind::kTruncated, k};
    const uint8_t b = byte(i + k);
    const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return {Utf8Kind::kInvalid, k};
  }
  return {Utf8Kind::kValid, need};
}

}  // namespace atom::tokenizer_internal
