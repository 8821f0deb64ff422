#include "engine/stop_strings.h"

#include <algorithm>
#include <utility>

#include "core/check.h"

namespace atom {

namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The length a UTF-8 sequence starting with lead byte `c` claims (1 for ASCII and for bytes
// that cannot lead a sequence, which are passed through as they are).
size_t SequenceLength(char c) {
  const unsigned char b = static_cast<unsigned char>(c);
  if (b >= 0xF0 && b <= 0xF7) return 4;
  if (b >= 0xE0) return b <= 0xEF ? 3 : 1;
  if (b >= 0xC0) return 2;
  return 1;
}

// The largest end <= `end` that does not cut a UTF-8 sequence of `text` in two: moves back over
// continuation bytes to the sequence's lead byte unless the sequence is complete before `end`.
size_t CharBoundaryAtOrBefore(const std::string& text, size_t end) {
  if (end >= text.size()) {
    // The whole text: only an incomplete final sequence must stay back.
    end = text.size();
  } else if (!IsContinuationByte(text[end])) {
    return end;
  }
  // Find the lead byte of the sequence that contains byte end - 1 (at most 3 bytes back).
  size_t lead = end;
  for (int back = 0; back < 4 && lead > 0; ++back) {
    --lead;
    if (!IsContinuationByte(text[lead])) break;
  }
  if (lead == end || IsContinuationByte(text[lead])) return end;  // no lead byte: pass through
  return lead + SequenceLength(text[lead]) <= end ? end : lead;
}

}  // namespace

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops,
                                     bool include_stop_str_in_output)
    : stops_(std::move(stops)), include_stop_(include_stop_str_in_output) {
  for (const std::string& s : stops_) {
    ATOM_CHECK(!s.empty());
    max_stop_length_ = std::max(max_stop_length_, s.size());
  }
}

const std::string& StopStringMatcher::matched_stop() const {
  static const std::string kNone;
  return matched() ? stops_[size_t(matched_index_)] : kNone;
}

size_t StopStringMatcher::PossibleStopPrefixLength() const {
  const std::string_view text = text_;
  size_t longest = 0;
  for (const std::string& s : stops_) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > longest; --k) {
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        longest = k;
        break;
      }
    }
  }
  return longest;
}

std::string StopStringMatcher::TakeStreamable(size_t end) {
  if (end <= streamed_) return std::string();
  std::string out = text_.substr(streamed_, end - streamed_);
  streamed_ = end;
  return out;
}

std::string StopStringMatcher::Push(std::string_view piece) {
  if (matched() || flushed_ || piece.empty()) return std::string();
  const size_t old_size = text_.size();
  text_.append(piece);

  // The match that ends first; a match ending in old text would have been found already.
  size_t best_end = std::string::npos, best_start = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const std::string& s = stops_[i];
    const size_t from = old_size >= s.size() ? old_size - s.size() + 1 : 0;
    const size_t start = text_.find(s, from);
    if (start == std::string::npos) continue;
    const size_t end = start + s.size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_end = end;
      best_start = start;
      matched_index_ = int(i);
    }
  }
  if (matched()) {
    match_offset_ = best_start;
    text_.resize(include_stop_ ? best_end : best_start);
    // Text already streamed is never taken back; it cannot reach into an excluded stop string,
    // since every possible stop-string prefix was held.
    return TakeStreamable(text_.size());
  }
  const size_t hold = include_stop_ ? 0 : PossibleStopPrefixLength();
  return TakeStreamable(CharBoundaryAtOrBefore(text_, text_.size() - hold));
}

std::string StopStringMatcher::Flush() {
  if (matched() || flushed_) return std::string();
  flushed_ = true;
  return TakeStreamable(text_.size());
}

}  // namespace atom
