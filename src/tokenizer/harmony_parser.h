// HarmonyParser: turns the token ids a gpt-oss model generates into Harmony messages (spec §6.6),
// incrementally, as openai/harmony's StreamableParser does, with events for streaming.
//
// States: kExpectStart --<|start|>--> kHeader --<|message|>--> kContent --stop--> kExpectStart,
// where the stops of a message are <|end|>, <|return|> and <|call|>. When the prompt ended with
// `<|start|>assistant`, construct with first_role = kAssistant: the parser then begins in kHeader
// and the model's first tokens (`<|channel|>analysis<|message|>`) are that message's header.
//
// Well-formed output parses exactly as harmony's parser does (same messages, same fields). Output
// that is not well formed never aborts and never loses the parser's state; it is repaired as
// follows (each repair is an "anomaly": counted, described by last_anomaly(), and returned as an
// InvalidArgument status in strict mode):
//   * Text where a header should be but no <|message|> (e.g. "I must refuse<|end|>" or
//     "<|channel|>analysis I must refuse<|end|>"): when a stop token, <|start|> or
//     <|endoftext|> ends it, the header text is salvaged as a message: its <|channel|> value is
//     the channel, a leading role word is the role, the rest (trimmed) is the content. As in
//     harmony's non-strict mode. A header whose text is blank is dropped. (harmony salvages only
//     the first message, and joins the content's words with single spaces; here the content
//     keeps its own whitespace.)
//   * Tokens outside any message (after a stop, or first tokens when no role is known):
//     <|end|> is ignored; any other non-stop token starts an implicit assistant header, as if
//     `<|start|>assistant` had come first (so a forgotten <|start|> costs nothing).
//   * <|start|> inside a header or content closes what is open (a missing <|end|>); inside
//     content, <|channel|> does the same and starts a new assistant header with it (the model
//     forgot `<|end|><|start|>assistant`). Other special tokens inside content are kept as their
//     literal text, as harmony does (and counted as anomalies).
//   * <|return|> / <|call|> with no message open still report kStop.
//   * <|endoftext|> anywhere closes what is open and reports kStop (harmony does not treat it
//     specially; a model that emits it has ended its output).
//   * A header harmony rejects (unknown role, empty channel value, extra words, invalid UTF-8) is
//     read as far as it goes: an unknown lone role word is a tool author, a missing role is the
//     assistant, an empty channel is none, extra words are dropped, bad bytes become U+FFFD.
//   * Finish() with a message open reports it with terminator kTruncated (its content so far).
//     An open header is taken for a header cut short and dropped, unless its role was not written
//     (first message, or implicit start) and it reads as plain text (no special token, no "to="
//     word): then it is salvaged as above (a model that writes no headers at all).
//   * An id outside the vocabulary is always an InvalidArgument; in content it becomes U+FFFD.
// After a stop the parser keeps accepting tokens (in kExpectStart), as harmony's does.
//
// Content text is valid UTF-8 and a delta never ends inside a character (IncrementalDetokenizer);
// the deltas of a message concatenate to its content. Not thread-safe; one per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/harmony_message.h"
#include "tokenizer/tokenizer.h"

namespace atom {

// How a message ended.
enum class HarmonyTerminator {
  kNone,        // still open
  kEnd,         // <|end|>
  kReturn,      // <|return|>: the final answer is complete; generation is over
  kCall,        // <|call|>: a tool call is complete; generation is over
  kNewMessage,  // implicitly, by <|start|> (or <|channel|> in content): <|end|> was missing
  kEndOfText,   // <|endoftext|>
  kTruncated,   // Finish() while it was open: the output was cut off
};
const char* HarmonyTerminatorName(HarmonyTerminator t);

enum class HarmonyEventKind {
  kMessageStart,  // header parsed: `header` holds role, author, recipient, channel, content type
  kContentDelta,  // `text`: more content of the open message (complete UTF-8, never empty)
  kMessageEnd,    // the message is complete: messages()[message_index], `terminator` says how
  kStop,          // a stop token (<|return|>, <|call|>, <|endoftext|>) came: `terminator`
};

struct HarmonyEvent {
  HarmonyEventKind kind = HarmonyEventKind::kMessageStart;
  size_t message_index = 0;  // the message's index in messages() (once complete)
  HarmonyMessage header;     // kMessageStart only; its content is empty
  std::string text;          // kContentDelta only
  HarmonyTerminator terminator = HarmonyTerminator::kNone;  // kMessageEnd, kStop
};

// A header read from its text (spec §6.6). `header.content` is empty.
struct HarmonyParsedHeader {
  HarmonyMessage header;
  Status status;  // what harmony's strict parser would reject; the header is usable regardless
};
// Parses the text between <|start|> and <|message|> (special tokens as their literal text).
// `known_role`: the role when it is known in advance (the first completion message); otherwise the
// first word is the role, or names the tool that authored the message.
HarmonyParsedHeader ParseHarmonyHeader(std::string_view text,
                                       std::optional<HarmonyRole> known_role);

class HarmonyParser {
 public:
  enum class State { kExpectStart, kHeader, kContent };

  struct Options {
    // The role of the first message when the prompt ended with `<|start|>ROLE` (usually
    // kAssistant); nullopt when the output begins with <|start|>.
    std::optional<HarmonyRole> first_role = HarmonyRole::kAssistant;
    // Report every repair (see above) as an InvalidArgument status. The repair is made either way.
    bool strict = false;
  };

  // `tokenizer` must outlive the parser; it must know the Harmony special tokens (by their text).
  explicit HarmonyParser(const Tokenizer& tokenizer) : HarmonyParser(tokenizer, Options()) {}
  HarmonyParser(const Tokenizer& tokenizer, Options options);

  HarmonyParser(const HarmonyParser&) = delete;
  HarmonyParser& operator=(const HarmonyParser&) = delete;

  // Consumes one token and appends the events it causes to `*events` (may be null). Returns OK,
  // or the anomaly the token caused (see above); the parser is usable either way.
  Status Push(int32_t id, std::vector<HarmonyEvent>* events);
  // Push for each id in order; returns the first non-OK status (all ids are consumed regardless).
  Status Push(std::span<const int32_t> ids, std::vector<HarmonyEvent>* events);
  // The output has ended (the caller stopped sampling): closes an open message as kTruncated and
  // salvages an open header. Afterwards the parser is in kExpectStart with no role known; further
  // tokens are parsed as a continuation. Returns OK or the anomaly.
  Status Finish(std::vector<HarmonyEvent>* events);

  State state() const { return state_; }
  // Completed messages, in order, and how each ended (same length).
  const std::vector<HarmonyMessage>& messages() const { return messages_; }
  const std::vector<HarmonyTerminator>& terminators() const { return terminators_; }
  // The message being received (content so far), or null outside kContent. Valid until the next
  // call of a non-const method.
  const HarmonyMessage* current() const { return state_ == State::kContent ? &current_ : nullptr; }
  // The last stop token seen (kReturn, kCall, kEndOfText), or kNone.
  HarmonyTerminator stop() const { return stop_; }
  size_t anomaly_count() const { return anomaly_count_; }
  const std::string& last_anomaly() const { return last_anomaly_; }

 private:
  enum class TokenClass {
    kText, kStart, kEnd, kReturn, kCall, kMessage, kChannel, kEndOfText, kOtherSpecial, kUnknown
  };
  TokenClass Classify(int32_t id) const;

  Status PushExpectStart(int32_t id, TokenClass c, std::vector<HarmonyEvent>* events);
  Status PushHeader(int32_t id, TokenClass c, std::vector<HarmonyEvent>* events);
  Status PushContent(int32_t id, TokenClass c, std::vector<HarmonyEvent>* events);

  // kHeader with `role` known (or not) and `header_bytes_` empty.
  void BeginHeader(std::optional<HarmonyRole> role);
  // The header is complete (<|message|> seen): parse it and enter kContent.
  Status OpenMessage(std::vector<HarmonyEvent>* events);
  void AppendContent(std::string text, std::vector<HarmonyEvent>* events);
  // Closes the open message (flushing held-back bytes) and enters kExpectStart.
  void CloseMessage(HarmonyTerminator how, std::vector<HarmonyEvent>* events);
  // A header ended without <|message|>: emits it as a whole message if it holds text (or, with
  // `keep_empty`, any header text at all), then enters kExpectStart. Returns the anomaly, if any.
  Status SalvageHeader(HarmonyTerminator how, bool keep_empty, std::vector<HarmonyEvent>* events);
  void EmitStop(HarmonyTerminator how, std::vector<HarmonyEvent>* events);
  // Records an anomaly; returns it as a status in strict mode, else OK.
  Status Anomaly(std::string message);

  const Tokenizer& tokenizer_;
  Options options_;
  // Special token ids (-1 when the tokenizer lacks one).
  int32_t start_id_, end_id_, return_id_, call_id_, message_id_, channel_id_, endoftext_id_;

  State state_ = State::kExpectStart;
  std::optional<HarmonyRole> header_role_;  // kHeader: the role known in advance, if any
  std::string header_bytes_;                // kHeader: the header's bytes so far
  HarmonyMessage current_;                  // kContent: header + content so far
  std::optional<IncrementalDetokenizer> detokenizer_;  // kContent: the message's UTF-8 assembly

  std::vector<HarmonyMessage> messages_;
  std::vector<HarmonyTerminator> terminators_;
  HarmonyTerminator stop_ = HarmonyTerminator::kNone;
  size_t anomaly_count_ = 0;
  std::string last_anomaly_;
};

}  // namespace atom
