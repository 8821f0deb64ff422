// Parsing and validation of OpenAI request bodies into engine inputs (pure functions: no
// sockets, no threads). Every error is an ApiError naming the field (api_error.h).
//
// POST /v1/chat/completions
//   model            absent/null or the served name; anything else is 404 model_not_found.
//   messages, tools, tool_choice, reasoning_effort (and the extensions of openai_chat.h)
//                    -> a Harmony conversation (OpenAiChatToConversation), rendered for the
//                    assistant's completion (RenderConversationForCompletion) into prompt ids.
//   stream, stream_options.include_usage (stream_options only with stream: true)
//   n (1..max_n), temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty,
//   repetition_penalty, logit_bias, seed, stop (string or list), max_tokens,
//   max_completion_tokens (wins over max_tokens), min_tokens, ignore_eos, stop_token_ids,
//   include_stop_str_in_output: as SamplingParams defines them, ranges by its Validate.
//   logprobs (bool) + top_logprobs (0..20; only with logprobs: true).
//   response_format  {"type": "text"} is accepted; "json_object" / "json_schema" are REJECTED
//                    (400, param response_format.type): decoding is not constrained, and
//                    silently returning unvalidated JSON to a client that asked for a schema is
//                    worse than a clear error.
//   user, parallel_tool_calls, store, metadata, service_tier and any other unknown field: ignored
//                    (OpenAI clients and frameworks send extras; vLLM ignores them too).
//   The stop token ids always include <|return|> and <|call|> (when the tokenizer has them) and
//   ServerInfo::chat_stop_token_ids (the model's EOS ids): these end a Harmony completion.
//   Stop strings in chat end generation, but the chat response is parsed from the token ids, so
//   the text of the token that completed a stop string stays in the message (consistently in
//   streaming and non-streaming responses).
//   max_tokens unset: generation runs until the context is full.
//
// POST /v1/completions
//   prompt           a string, a list of strings, a list of token ids, or a list of lists of
//                    ids; each is one prompt and gets n choices (choice index = prompt * n + i).
//                    Strings are encoded with special tokens recognised (EncodeWithSpecial), as
//                    vLLM does with a Hugging Face tokenizer: a raw Harmony prompt works.
//   echo             supported: the prompt's text (and, with logprobs, its logprobs; the first
//                    token's logprob is null) precede the completion.
//   logprobs         integer 0..5 (the legacy API): that many top logprobs per token.
//   suffix           400 "suffix is not supported".
//   best_of          accepted only when equal to n (no server-side best-of ranking).
//   max_tokens       default 16 (OpenAI's and vLLM's default), lowered to fit the context.
//   plus the sampling fields above (not logprobs/top_logprobs/max_completion_tokens/tools).
//
// Both: a prompt of max_model_len tokens or more, or prompt + max_tokens over max_model_len, is
// a 400 naming messages/prompt or max_tokens.
//
// POST /tokenize    {"model"?, "prompt": string, "add_special_tokens"?: bool (ignored)} or
//                   {"model"?, "messages": [...], "tools"?, ...} (rendered as for chat)
//                   -> {"tokens": [...], "count": N, "max_model_len": M}
//                   (+ "token_strs" with "return_token_strs": true).
// POST /detokenize  {"model"?, "tokens": [ids]} -> {"prompt": text} (invalid UTF-8 replaced).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.h"
#include "server/api_error.h"
#include "tokenizer/openai_chat.h"
#include "tokenizer/tokenizer.h"

namespace atom {

// What the protocol layer knows about the server. Must outlive the requests parsed with it.
struct OpenAiServerInfo {
  std::string model_name;                // the served model name
  const Tokenizer* tokenizer = nullptr;  // required
  int64_t max_model_len = 0;             // > 0
  // Added to every chat request's stop_token_ids (e.g. the model config's EOS ids), besides
  // <|return|> and <|call|>.
  std::vector<int32_t> chat_stop_token_ids;
  OpenAiChatOptions chat_options;  // e.g. conversation_start_date
  int max_n = 128;                 // the largest n accepted
  // Unix seconds for "created"; null = the system clock. Injectable for tests.
  std::function<int64_t()> clock;
  // The random part of response ids ("chatcmpl-" + it); null = 24 random hex digits.
  std::function<std::string()> make_id;
};

enum class OpenAiEndpoint { kChatCompletions, kCompletions };

// One parsed generation request: what the engine runs and what the response builder needs.
struct OpenAiRequest {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kChatCompletions;
  std::string id;        // "chatcmpl-…" or "cmpl-…"
  int64_t created = 0;   // unix seconds
  std::string model;     // the served name, echoed in responses
  // One entry per prompt (chat: exactly one). Each runs as one engine request with params.n
  // sequences.
  std::vector<std::vector<int32_t>> prompts;
  // Completions with echo: each prompt's text (decoded from its ids); otherwise empty.
  std::vector<std::string> prompt_texts;
  SamplingParams params;  // validated against the vocabulary
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Chat: tools were given and not disabled by tool_choice "none".
  bool has_tools = false;
  bool echo = false;  // completions

  // Whether responses carry logprobs (params.logprobs is set), and how many top ones.
  bool logprobs() const { return params.logprobs.has_value(); }
  int top_logprobs() const { return params.logprobs.value_or(0); }
  // prompts.size() * params.n.
  int num_choices() const { return int(prompts.size()) * params.n; }
};

ApiResult<OpenAiRequest> ParseChatCompletionRequest(std::string_view body,
                                                    const OpenAiServerInfo& info);
ApiResult<OpenAiRequest> ParseCompletionRequest(std::string_view body,
                                                const OpenAiServerInfo& info);

// The response bodies of /tokenize and /detokenize.
ApiResult<nlohmann::json> HandleTokenize(std::string_view body, const OpenAiServerInfo& info);
ApiResult<nlohmann::json> HandleDetokenize(std::string_view body, const OpenAiServerInfo& info);

// "created" and the id suffix as `info` makes them (its hooks or the system clock / random).
int64_t CreatedNow(const OpenAiServerInfo& info);
std::string MakeResponseId(const OpenAiServerInfo& info, std::string_view prefix);

}  // namespace atom
