// HarmonyChatOutput: turns the events of a HarmonyParser (the assistant's completion) into what an
// OpenAI chat-completions response carries: reasoning text, content text, function tool calls and
// a finish reason — incrementally (one ChatDelta per streamed piece) and as a whole (ChatOutput).
//
// Mapping, decided once per message from its header (spec §6.1, §6.8):
//   * Messages not authored by the assistant (a tool result, a stray user message) are dropped.
//   * A recipient of "functions.NAME" (on any channel, usually commentary) is a function tool call
//     NAME; its content is the arguments (JSON text as the model wrote it), streamed as argument
//     deltas. A recipient in a built-in tool namespace ("browser.search", "python",
//     "container.exec"; see Options) is a built-in tool call, reported whole when its message
//     ends, never as a function call. Any other recipient except "all", "assistant", "user",
//     "system" and "developer" (which count as no recipient) is taken as a function tool call
//     with the recipient as its name (older prompts name functions without the namespace;
//     the client's tool list decides whether it exists).
//   * Without a recipient: channel "analysis" -> reasoning; "final" -> content; "commentary" ->
//     content (a user-visible preamble, as OpenAI's docs describe it); no channel -> content
//     (a model that skipped the header); any other channel -> reasoning (hidden text must never
//     leak into the answer).
//   * Texts of several messages of one kind are concatenated as they are, without separators.
// Finish reason: "tool_calls" when the last assistant message is a function tool call that ended
// with <|call|> (or with <|end|> / <|endoftext|> and the caller reports "stop": a model that
// forgot <|call|>); otherwise the caller's reason ("stop" or "length"). A call cut off by the
// length limit keeps "length".
// Not thread-safe; one per response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/harmony_parser.h"
#include "tokenizer/tokenizer.h"

namespace atom {

struct ChatToolCall {
  std::string id;         // "call_…" (Options::make_tool_call_id)
  std::string name;       // "get_weather" (the recipient without "functions.")
  std::string arguments;  // the message content: JSON text, as the model wrote it
};

struct ChatBuiltinToolCall {
  std::string recipient;     // "browser.search", "python"
  std::string channel;       // usually "analysis"
  std::string content_type;  // "code", "json", "<|constrain|>json", or empty
  std::string input;         // the message content
};

struct ChatOutput {
  std::string reasoning;
  std::string content;
  std::vector<ChatToolCall> tool_calls;
  std::vector<ChatBuiltinToolCall> builtin_tool_calls;
  std::string finish_reason;  // set by ParseChatOutput; empty in HarmonyChatOutput::output()
};

enum class ChatDeltaKind {
  kReasoning,          // `text`: more reasoning
  kContent,            // `text`: more content
  kToolCallStart,      // a function call begins: `index`, `id`, `name` (arguments follow)
  kToolCallArguments,  // `text`: more arguments of tool call `index`
  kBuiltinToolCall,    // builtin_tool_calls[`index`] is complete: `name` recipient, `text` input
};

struct ChatDelta {
  ChatDeltaKind kind = ChatDeltaKind::kContent;
  std::string text;
  size_t index = 0;  // into ChatOutput::tool_calls (or builtin_tool_calls for kBuiltinToolCall)
  std::string id;
  std::string name;

  bool operator==(const ChatDelta&) const = default;
};

// Tool call ids "call_" + 24 random letters and digits.
std::function<std::string()> RandomToolCallIds();
// Deterministic ids `prefix` + "0", `prefix` + "1", … (tests).
std::function<std::string()> SequentialToolCallIds(std::string prefix = "call_");

class HarmonyChatOutput {
 public:
  struct Options {
    std::function<std::string()> make_tool_call_id;  // null: RandomToolCallIds()
    // Recipients equal to one of these or beginning with it plus "." are built-in tool calls.
    std::vector<std::string> builtin_tool_namespaces = {"browser", "python", "container"};
  };

  HarmonyChatOutput() : HarmonyChatOutput(Options()) {}
  explicit HarmonyChatOutput(Options options);

  // Consumes one parser event and appends the resulting deltas to `*deltas` (may be null).
  void Consume(const HarmonyEvent& event, std::vector<ChatDelta>* deltas);
  void Consume(std::span<const HarmonyEvent> events, std::vector<ChatDelta>* deltas);

  // Everything so far (finish_reason empty). The content of an unfinished message is included.
  const ChatOutput& output() const { return output_; }
  // "tool_calls" or `caller_reason` (see above).
  std::string FinishReason(std::string_view caller_reason) const;

 private:
  enum class Route { kIgnore, kReasoning, kContent, kFunctionCall, kBuiltinCall };
  Route RouteOf(const HarmonyMessage& header) const;

  Options options_;
  ChatOutput output_;
  Route route_ = Route::kIgnore;  // of the open message
  bool open_ = false;
  // The last completed assistant message: a function call? how did it end?
  bool last_is_function_call_ = false;
  HarmonyTerminator last_terminator_ = HarmonyTerminator::kNone;
};

// The whole response for a completion (`ids`, generated after a prompt that ended with
// `<|start|>assistant`): parses with a fresh HarmonyParser, finishes it, and sets finish_reason
// from `caller_reason` ("stop" when the model stopped by itself, "length" at the token limit).
// Parser anomalies are tolerated (see harmony_parser.h); ids outside the vocabulary become U+FFFD.
ChatOutput ParseChatOutput(const Tokenizer& tokenizer, std::span<const int32_t> ids,
                           std::string_view caller_reason,
                           HarmonyChatOutput::Options options = HarmonyChatOutput::Options());

}  // namespace atom
