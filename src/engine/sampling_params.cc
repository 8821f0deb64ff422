#include "engine/sampling_params.h"

#include <cmath>

namespace atom {

namespace {

// False for NaN, so NaN fails every range check.
bool InClosed(float x, float lo, float hi) { return lo <= x && x <= hi; }

Status CheckLogprobCount(const char* field, const std::optional<int>& value) {
  if (value && !(0 <= *value && *value <= SamplingParams::kMaxLogprobs)) {
    return InvalidArgument("{} must be in [0, {}], got {}", field, SamplingParams::kMaxLogprobs,
                           *value);
  }
  return OkStatus();
}

}  // namespace

Status SamplingParams::Validate(int64_t vocab_size) const {
  if (n < 1) return InvalidArgument("n must be >= 1, got {}", n);
  if (!(std::isfinite(temperature) && temperature >= 0.0f)) {
    return InvalidArgument("temperature must be finite and >= 0, got {}", temperature);
  }
  if (!(0.0f < top_p && top_p <= 1.0f)) {
    return InvalidArgument("top_p must be in (0, 1], got {}", top_p);
  }
  if (top_k < -1) {
    return InvalidArgument("top_k must be -1 or 0 (off) or >= 1, got {}", top_k);
  }
  if (!InClosed(min_p, 0.0f, 1.0f)) {
    return InvalidArgument("min_p must be in [0, 1], got {}", min_p);
  }
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f)) {
    return InvalidArgument("repetition_penalty must be finite and > 0, got {}", repetition_penalty);
  }
  const float pf = kMaxPresenceOrFrequencyPenalty;
  if (!InClosed(presence_penalty, -pf, pf)) {
    return InvalidArgument("presence_penalty must be in [-{}, {}], got {}", pf, pf,
                           presence_penalty);
  }
  if (!InClosed(frequency_penalty, -pf, pf)) {
    return InvalidArgument("frequency_penalty must be in [-{}, {}], got {}", pf, pf,
                           frequency_penalty);
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0 || token >= vocab_size) {
      return InvalidArgument("logit_bias: token id {} is outside the vocabulary [0, {})", token,
                             vocab_size);
    }
    if (!InClosed(bias, -kMaxLogitBias, kMaxLogitBias)) {
      return InvalidArgument("logit_bias: the bias of token {} must be in [-{}, {}], got {}", token,
                             kMaxLogitBias, kMaxLogitBias, bias);
    }
  }
  if (max_tokens && *max_tokens < 1) {
    return InvalidArgument("max_tokens must be >= 1, got {}", *max_tokens);
  }
  if (min_tokens < 0) return InvalidArgument("min_tokens must be >= 0, got {}", min_tokens);
  if (max_tokens && min_tokens > *max_tokens) {
    return InvalidArgument("min_tokens ({}) must be <= max_tokens ({})", min_tokens, *max_tokens);
  }
  for (size_t i = 0; i < stop_token_ids.size(); ++i) {
    const int32_t token = stop_token_ids[i];
    if (token < 0 || token >= vocab_size) {
      return InvalidArgument("stop_token_ids[{}]: token id {} is outside the vocabulary [0, {})", i,
                             token, vocab_size);
    }
  }
  if (stop.size() > size_t(kMaxStopStrings)) {
    return InvalidArgument("stop may hold at most {} strings, got {}", kMaxStopStrings,
                           stop.size());
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) return InvalidArgument("stop[{}] must not be empty", i);
  }
  ATOM_RETURN_IF_ERROR(CheckLogprobCount("logprobs", logprobs));
  ATOM_RETURN_IF_ERROR(CheckLogprobCount("prompt_logprobs", prompt_logprobs));
  return OkStatus();
}

}  // namespace atom
