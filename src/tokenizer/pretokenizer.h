// Pretokenizer: splits text into the pieces that BPE encodes independently, with the model's
// regex (PCRE2 with UTF + Unicode properties, JIT-compiled).
//
// Semantics are Hugging Face's Split(behavior=Isolated): repeatedly take the leftmost non-empty
// match at or after the end of the previous one; text between matches (which the o200k pattern
// never leaves, but another pattern or invalid UTF-8 may) becomes a piece of its own, so the
// pieces always concatenate back to the input. Invalid UTF-8 never matches (PCRE2's
// MATCH_INVALID_UTF), so it ends up in such gap pieces. Immutable; thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace atom::tokenizer_internal {

class Pretokenizer {
 public:
  // Errors name the pattern offset PCRE2 rejected. For the o200k pattern, ASCII text is matched
  // by a hand-written scanner (o200k_ascii_scan.h) unless `allow_fast_path` is false.
  static StatusOr<Pretokenizer> Create(const std::string& pattern, bool allow_fast_path = true);

  Pretokenizer(Pretokenizer&&) noexcept;
  Pretokenizer& operator=(Pretokenizer&&) noexcept;
  ~Pretokenizer();

  // Calls f(std::string_view piece) for each piece of `text`, in order.
  template <typename F>
  void ForEachPiece(std::string_view text, F&& f) const {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t begin, end;
      if (!NextMatch(text, pos, &begin, &end)) {
        f(text.substr(pos));
        return;
      }
      if (begin > pos) f(text.substr(pos, begin - pos));
      f(text.substr(begin, end - begin));
      pos = end;
    }
  }

  std::vector<std::string_view> Split(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;  // the compiled pattern (pcre2_code), freed on destruction

  Pretokenizer(std::string pattern, std::unique_ptr<Code> code, bool o200k_ascii);
  // The leftmost non-empty match [*begin, *end) with *begin >= pos, or false if none. Never
  // fails: a match error (resource limits) degrades to a one-character match at `pos`.
  bool NextMatch(std::string_view text, size_t pos, size_t* begin, size_t* end) const;

  std::string pattern_;
  std::unique_ptr<Code> code_;
  bool o200k_ascii_ = false;  // use MatchO200kAscii() where it decides
};

}  // namespace atom::tokenizer_internal
