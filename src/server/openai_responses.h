// Response bodies of the OpenAI endpoints, built from engine outputs (pure functions; no sockets,
// no threads). Streaming encoders are in openai_stream.h.
//
// Chat (object "chat.completion"): the assistant's token ids are parsed as Harmony
// (ParseChatOutput): analysis -> message.reasoning_content, final (and commentary preambles) ->
// message.content, functions.NAME calls -> message.tool_calls [{id, type: "function",
// function: {name, arguments}}]. finish_reason is "tool_calls" when the output ended calling a
// function, else "stop" / "length" (or "abort"). message.content is null when the message only
// calls tools, "" when it is otherwise empty; reasoning_content is null when there is none;
// tool_calls is left out when there are none (as OpenAI does).
// Logprobs (chat): {"content": [{"token", "logprob", "bytes": [ints], "top_logprobs": [...]}]}
// for every generated token, Harmony control tokens included; -inf is reported as -9999.0 (as
// vLLM does: JSON has no infinity).
// Completions (object "text_completion"): choices[].text (the prompt's text first with echo),
// legacy logprobs {tokens, token_logprobs, top_logprobs, text_offset} (top_logprobs maps token
// text -> logprob and includes the sampled token; with echo the prompt's tokens come first, the
// first one with null logprobs), finish_reason, stop_reason (the stop token id or string, as vLLM
// reports it, or null).
// Token strings are the token's bytes as UTF-8 (invalid bytes -> U+FFFD); "bytes" are the raw
// bytes as integers, as OpenAI does.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request_output.h"
#include "server/openai_requests.h"
#include "tokenizer/tokenizer.h"

namespace atom {

// One sequence of a request, accumulated from its RequestOutputs (for non-streaming responses).
struct SequenceResult {
  std::vector<int32_t> token_ids;
  std::string text;                           // RequestOutput::text concatenated
  std::vector<SampleResult> logprobs;         // one per token, with logprobs
  std::vector<SampleResult> prompt_logprobs;  // from the first output
  std::optional<FinishReason> finish_reason;
  std::optional<int32_t> stop_token;
  std::string stop_string;
  int64_t num_cached_prompt_tokens = 0;

  void Append(const RequestOutput& out);
  bool finished() const { return finish_reason.has_value(); }
};

// What one choice contributes to "usage".
struct ChoiceUsage {
  int64_t output_tokens = 0;
  int64_t cached_prompt_tokens = 0;
};

struct UsageInfo {
  int64_t prompt_tokens = 0;      // every prompt once (not once per choice)
  int64_t completion_tokens = 0;  // every choice's tokens
  int64_t cached_tokens = 0;      // prompt tokens served by the prefix cache (per prompt, max)
};

// choices[i] is choice i of `request` (prompt i / n).
UsageInfo ComputeUsage(const OpenAiRequest& request, std::span<const ChoiceUsage> choices);
UsageInfo ComputeUsage(const OpenAiRequest& request, std::span<const SequenceResult> choices);
// {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details":
//  {"cached_tokens"}}
nlohmann::json UsageJson(const UsageInfo& usage);

struct ResponseOptions {
  // Tool call ids; null = RandomToolCallIds() ("call_" + 24 letters and digits).
  std::function<std::string()> make_tool_call_id;
};

// The whole /v1/chat/completions response. REQUIRES: choices.size() == request.num_choices().
nlohmann::json BuildChatCompletion(const OpenAiRequest& request, const Tokenizer& tokenizer,
                                   std::span<const SequenceResult> choices,
                                   const ResponseOptions& options = {});
// The whole /v1/completions response. REQUIRES: as above.
nlohmann::json BuildCompletion(const OpenAiRequest& request, const Tokenizer& tokenizer,
                               std::span<const SequenceResult> choices);
// /v1/models: {"object": "list", "data": [{"id", "object": "model", "created", "owned_by":
// "atom", "max_model_len"}]}.
nlohmann::json BuildModelList(const OpenAiServerInfo& info, int64_t created);

// Chat logprobs for `ids` (one SampleResult each): {"content": [...]}.
nlohmann::json ChatLogprobsJson(const Tokenizer& tokenizer, std::span<const int32_t> ids,
                                std::span<const SampleResult> logprobs);

// Legacy completions logprobs being assembled.
struct LegacyLogprobs {
  nlohmann::json tokens = nlohmann::json::array();
  nlohmann::json token_logprobs = nlohmann::json::array();
  nlohmann::json top_logprobs = nlohmann::json::array();
  nlohmann::json text_offset = nlohmann::json::array();
  int64_t offset = 0;  // text_offset of the next token

  // A token with no logprob (the first prompt token).
  void AddUnscored(const Tokenizer& tokenizer, int32_t id);
  void Add(const Tokenizer& tokenizer, int32_t id, const SampleResult& logprob);
  nlohmann::json ToJson() const;
};
// Appends the prompt's tokens (echo): the first unscored, the rest from `prompt_logprobs`
// (prompt tokens 1..n-1; missing entries count as unscored).
void AddPromptLogprobs(const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                       std::span<const SampleResult> prompt_logprobs, LegacyLogprobs* out);

// The token's text (UTF-8, invalid bytes replaced) and its logprob as JSON (-inf -> -9999.0).
std::string TokenText(const Tokenizer& tokenizer, int32_t id);
double JsonLogprob(float logprob);
// stop_reason as vLLM reports it: the stop token id, the stop string, or null.
nlohmann::json StopReasonJson(std::optional<FinishReason> reason,
                              std::optional<int32_t> stop_token, const std::string& stop_string);

// A JSON value as compact text; invalid UTF-8 (never expected) is replaced, never thrown.
std::string DumpJson(const nlohmann::json& value);
// Server-sent events: "data: " + JSON + "\n\n", and the terminator "data: [DONE]\n\n".
std::string SseEvent(const nlohmann::json& value);
std::string SseDone();

}  // namespace atom
