// OpenAI chat-completions request -> Harmony conversation (spec §6), for the server and
// `atom render`. The result is ready for RenderConversationForCompletion.
//
// Mapping (the request's fields; anything not listed is ignored, e.g. model, temperature):
//   system content      SystemContent with harmony's defaults: identity "You are ChatGPT, ...",
//                       knowledge cutoff 2024-06, channels analysis/commentary/final;
//                       "reasoning_effort": "low" | "medium" | "high" (default medium).
//                       Extensions (not OpenAI fields): "model_identity", "knowledge_cutoff",
//                       "conversation_start_date" (strings; the date defaults to
//                       OpenAiChatOptions), "builtin_tools": ["browser", "python"].
//   role system|developer  Their text becomes the developer message's "# Instructions" (the
//                       model's identity stays in the system message, as harmony intends).
//                       Several such messages, wherever they are, are joined with "\n\n" in
//                       order.
//   role user           A user message.
//   role assistant      In this order: "reasoning_content" (or "reasoning") -> an analysis
//                       message; "content" -> a final message, or a commentary message (a
//                       preamble) when the message also has tool calls; each of "tool_calls"
//                       -> <|start|>assistant to=functions.NAME<|channel|>commentary
//                       <|constrain|>json<|message|>ARGUMENTS<|call|>. "arguments" is a JSON
//                       text (kept byte for byte; "" means "{}") or a JSON object (serialized).
//   role tool           <|start|>functions.NAME to=assistant<|channel|>commentary<|message|>
//                       CONTENT<|end|>; NAME is the function of the earlier tool call whose
//                       "id" equals "tool_call_id" (or the message's "name" when it has no
//                       tool_call_id).
//   content             A string, or an array of {"type": "text", "text": ...} parts joined
//                       with "\n" (as vLLM does); other part types are an error.
//   tools               [{"type": "function", "function": {name, description, parameters}}]
//                       -> the developer message's "functions" namespace. Names must match
//                       [A-Za-z0-9_-]{1,64} (they are written into message headers).
//   tool_choice         "auto" (default) | "none": the tools are not shown at all (earlier tool
//                       calls in the history are still rendered) | "required" | {"type":
//                       "function", "function": {"name": N}}: a sentence is appended to the
//                       developer instructions (kToolChoiceRequiredInstruction /
//                       kToolChoiceNamedInstruction). That only steers the model; a server
//                       that must guarantee the call has to constrain decoding.
// Chain of thought across turns (spec §6.7, as the gpt-oss chat template does): an assistant
// message's reasoning is kept only if the message has tool calls and no later assistant message
// is a final answer (an assistant message without tool calls), i.e. while a tool-calling chain
// is in progress. Every other reasoning is dropped.
//
// Errors are InvalidArgument and name the field path, e.g.
// `messages[3].role: unknown role "robot"`,
// `messages[2].tool_calls[0].function.arguments: not valid JSON`.
//
// The request is nlohmann::ordered_json so that tool parameters keep the order the client
// wrote them in (harmony renders them in that order); OpenAiChatTextToConversation parses it
// so.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tokenizer/harmony_render.h"

namespace atom {

inline constexpr const char* kToolChoiceRequiredInstruction =
    "You must call at least one of the functions in the Tools section before you answer.";
// {} is replaced by the function's name.
inline constexpr const char* kToolChoiceNamedInstruction =
    "You must call the function functions.{} before you answer.";

struct OpenAiChatOptions {
  // Defaults for the system message when the request does not set them.
  std::optional<std::string> conversation_start_date;  // e.g. today's date, "YYYY-MM-DD"
  ReasoningEffort reasoning_effort = ReasoningEffort::kMedium;
  // false keeps every reasoning_content (then also render with auto_drop_analysis = false).
  bool drop_past_reasoning = true;
};

StatusOr<Conversation> OpenAiChatToConversation(const nlohmann::ordered_json& request,
                                                const OpenAiChatOptions& options = {});

// Parses `request_json` (as ordered_json) first; invalid JSON is an error naming "request".
StatusOr<Conversation> OpenAiChatTextToConversation(std::string_view request_json,
                                                    const OpenAiChatOptions& options = {});

}  // namespace atom
