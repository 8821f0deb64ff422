// What the engine reports about a request while it runs: one RequestOutput per sequence per
// step that produced something, the last one carrying the finish reason.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace atom {

enum class FinishReason { kStop, kLength, kAbort };
// "stop", "length", "abort" (the OpenAI spellings).
const char* FinishReasonName(FinishReason r);

struct RequestOutput {
  int64_t request_id = 0;
  int index = 0;  // which of the request's n sequences

  std::vector<int32_t> token_ids;  // new this step (usually one)
  // New text this step: complete UTF-8, with text that may still turn into a stop string held
  // back, and a matched stop string cut off (unless include_stop_str_in_output). Empty without
  // a tokenizer.
  std::string text;
  // With SamplingParams::logprobs: one entry per new token.
  std::vector<SampleResult> logprobs;
  // With SamplingParams::prompt_logprobs, on the first output only: for prompt tokens 1..n-1 the
  // token's logprob and the top ones.
  std::vector<SampleResult> prompt_logprobs;

  // With RequestOptions::return_logits: the raw next-token logits of every position computed
  // this step, [logits_rows, vocab] row-major (the prompt's rows on the first output).
  std::vector<float> logits;
  int64_t logits_rows = 0;

  std::optional<FinishReason> finish_reason;  // set on the sequence's last output
  // What stopped it: the stop token id or the stop string, when finish_reason is kStop.
  std::optional<int32_t> stop_token;
  std::string stop_string;

  int64_t num_prompt_tokens = 0;
  int64_t num_cached_prompt_tokens = 0;  // served by the prefix cache
  int64_t num_output_tokens = 0;         // so far
};

// Per-request options that are not sampling parameters.
struct RequestOptions {
  // Report raw logits (RequestOutput::logits): for checking the model, e.g. `--logits-out`.
  bool return_logits = false;
};

// Called on the engine's loop thread; must return quickly and must not call back into the
// engine's blocking methods (AddRequest and Abort are fine: they only queue).
using OutputCallback = std::function<void(const RequestOutput&)>;

}  // namespace atom
