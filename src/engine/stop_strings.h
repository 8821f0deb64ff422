// StopStringMatcher: finds a request's stop strings in its detokenized output as the text
// arrives, and decides how much of the text may be streamed.
//
// The caller pushes each newly completed piece of text; a stop string may span any number of
// pieces. Text that could still turn out to be the start of a stop string is held back, so
// nothing streamed ever has to be taken back: with "</end>" as a stop string, "foo</e" streams
// "foo" and holds "</e" until the next piece decides. Held-back text never ends inside a UTF-8
// character, and an incomplete UTF-8 sequence at the end of the input is held back too.
//
// The match reported is the one that completes first (the smallest end offset in the text;
// between stop strings ending at the same place, the longer one). This is what a matcher that
// checks after every piece finds, so the result does not depend on how the text was split.
// After a match the output is the text before it (plus the stop string itself with
// include_stop_str_in_output) and further input is ignored. With include_stop_str_in_output
// nothing needs holding back: the held text is output whether or not a match follows.
//
// Pure string logic, O(new text x total stop length) per Push. Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace atom {

class StopStringMatcher {
 public:
  // REQUIRES: no stop string is empty (SamplingParams::Validate checks).
  StopStringMatcher(std::vector<std::string> stops, bool include_stop_str_in_output);

  // Appends `piece` and returns the text that became safe to stream (possibly empty). Once a
  // stop string has matched, returns the output up to its end as described above, then "" for
  // every later call.
  std::string Push(std::string_view piece);

  // The end of the output without a match: returns all text still held back (then "" on any
  // later call). Returns "" after a match.
  std::string Flush();

  bool matched() const { return matched_index_ >= 0; }
  // The stop string that matched; empty when none has.
  const std::string& matched_stop() const;
  // The byte offset of the match in all the text pushed. REQUIRES: matched().
  size_t match_offset() const { return match_offset_; }

  // The output text so far: everything pushed, cut at the match (stop string excluded unless
  // include_stop_str_in_output). After a match or Flush() this is the final text.
  const std::string& text() const { return text_; }
  // How many bytes of text() have been returned by Push/Flush.
  size_t num_streamed() const { return streamed_; }

 private:
  // The length of the longest suffix of text_ that is a proper prefix of a stop string.
  size_t PossibleStopPrefixLength() const;
  std::string TakeStreamable(size_t end);

  std::vector<std::string> stops_;
  bool include_stop_;
  size_t max_stop_length_ = 0;
  std::string text_;
  size_t streamed_ = 0;
  int matched_index_ = -1;
  size_t match_offset_ = 0;
  bool flushed_ = false;
};

}  // namespace atom
