// SseParser: incremental parser of a text/event-stream body (the WHATWG server-sent events
// format), fed with bytes as they arrive, however the network splits them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace atom::loadgen {

class SseParser {
 public:
  // Consumes `bytes` and appends the data of every event completed by them to `events`. An event
  // ends at a blank line; its data is the values of its "data:" lines (one leading space
  // stripped) joined by "\n". Lines end in "\n", "\r\n" or "\r". Comments (":...") and other
  // fields (event, id, retry) are skipped; an event without data lines dispatches nothing.
  void Feed(std::string_view bytes, std::vector<std::string>* events);

  // Whether bytes of an unfinished event are buffered (a stream cut mid-event).
  bool has_partial_event() const { return !line_.empty() || has_data_; }

 private:
  void EndLine(std::vector<std::string>* events);

  std::string line_;       // the current line so far
  std::string data_;       // data lines of the current event, joined
  bool has_data_ = false;  // the current event has at least one data line
  bool after_cr_ = false;  // the last byte was '\r': a following '\n' belongs to it
};

}  // namespace atom::loadgen
