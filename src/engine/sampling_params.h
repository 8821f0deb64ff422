// SamplingParams: how one request turns logits into tokens, with vLLM / OpenAI semantics.
//
// A request's parameters are validated once at admission (Validate); the sampler then trusts
// them. Every default means "off" except temperature (1.0, plain sampling) and
// skip_special_tokens (true).
//
// The order the sampler applies them in (engine/sampler.h) is vLLM's:
//   logit_bias and the min_tokens ban -> repetition, frequency and presence penalties ->
//   greedy argmax (temperature 0) or temperature -> top-k -> top-p -> min-p -> draw.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace atom {

struct SamplingParams {
  static constexpr int kMaxLogprobs = 20;     // logprobs and prompt_logprobs at most this
  static constexpr int kMaxStopStrings = 16;  // entries of `stop`
  static constexpr float kMaxLogitBias = 100.0f;
  static constexpr float kMaxPresenceOrFrequencyPenalty = 2.0f;

  // Number of sequences generated for the request (each samples with its own index into the
  // random stream, engine/random.h). >= 1.
  int n = 1;

  // 0 means greedy: the argmax of the processed logits, ties to the lowest token id, no draw.
  // Otherwise the processed logits are divided by it before the softmax. Finite, >= 0.
  float temperature = 1.0f;
  // Nucleus: keep the smallest set of most probable tokens whose probability reaches top_p
  // (after top-k). In (0, 1]; 1 = off.
  float top_p = 1.0f;
  // Keep the top_k most probable tokens. 0 or -1 = off, else >= 1 (larger than the vocabulary
  // is the same as off).
  int top_k = 0;
  // Keep tokens whose probability is at least min_p times the most probable one's (after top-k
  // and top-p). In [0, 1]; 0 = off.
  float min_p = 0.0f;

  // On every token that occurs in the prompt or the output so far: a positive logit is divided
  // by it, a negative one multiplied. > 0; 1 = off.
  float repetition_penalty = 1.0f;
  // On every token that occurs in the output so far, `count` times:
  //   logit -= frequency_penalty * count + presence_penalty * (count > 0).
  // Each in [-2, 2]; 0 = off.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Added to the logit of each listed token id, first of all processing. Ids in [0, vocab),
  // biases in [-100, 100].
  std::map<int32_t, float> logit_bias;

  // With a seed, the draw for output position p of sequence i is a pure function of
  // (seed, i, p): the same tokens whatever else shares the batch. Without one, the engine draws
  // a seed for the request at admission (DrawRequestSeed in engine/random.h).
  std::optional<uint64_t> seed;

  // Output tokens at most; unset = until the context is full. >= 1.
  std::optional<int> max_tokens;
  // Until this many output tokens exist, EOS (unless ignore_eos) and stop_token_ids are banned
  // (their logits set to -inf). >= 0, and <= max_tokens when that is set.
  int min_tokens = 0;
  // Keep generating past EOS (stop_token_ids still stop).
  bool ignore_eos = false;
  // Generating one of these stops the sequence (the token is in the output). Ids in [0, vocab).
  std::vector<int32_t> stop_token_ids;
  // Stop when the detokenized output contains one of these (engine/stop_strings.h). At most
  // kMaxStopStrings, none empty.
  std::vector<std::string> stop;
  // Keep the matched stop string at the end of the output text (default: cut it off).
  bool include_stop_str_in_output = false;

  // When set, every sampled token comes with its own logprob and the `logprobs` most likely
  // tokens' logprobs. Logprobs are the log-softmax of the raw model logits (engine/sampler.h).
  // In [0, kMaxLogprobs].
  std::optional<int> logprobs;
  // When set, every prompt token after the first gets its logprob and this many top logprobs.
  // In [0, kMaxLogprobs].
  std::optional<int> prompt_logprobs;
  // Leave special tokens out of the detokenized text.
  bool skip_special_tokens = true;

  bool greedy() const { return temperature == 0.0f; }
  // Greedy with nothing that needs the logits on the host: no penalties, bias, banned EOS
  // (min_tokens), logprobs or siblings. The model may then pick the token where the logits are.
  bool plain_greedy() const {
    return greedy() && !has_penalties() && logit_bias.empty() && min_tokens == 0 &&
           !logprobs.has_value() && n == 1;
  }
  // Whether any of the three penalties is on (the sequence then needs a PenaltyState).
  bool has_penalties() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
  bool top_k_enabled(int64_t vocab_size) const { return top_k > 0 && top_k < vocab_size; }

  // OK, or InvalidArgument naming the first field that is out of range, e.g.
  // "top_p must be in (0, 1], got 1.5" or "logit_bias: token id 201088 is outside the
  // vocabulary [0, 201088)". REQUIRES: vocab_size > 0.
  Status Validate(int64_t vocab_size) const;
};

}  // namespace atom
