// PenaltyState: what the repetition, presence and frequency penalties need to know about one
// sequence, kept up to date one token at a time.
//
// It holds one entry per distinct token seen (in the prompt and/or the output) with the token's
// output count, in a small open-addressing hash table. Adding a token is O(1) amortised and
// applying the penalties is O(distinct tokens), never O(sequence length) or O(vocabulary) per
// step. Copyable: an n > 1 request copies its prompt's state into each sequence.
//
// Not thread-safe; one sequence's state is touched by one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampling_params.h"

namespace atom {

class PenaltyState {
 public:
  PenaltyState() = default;
  // The state of a sequence with `prompt_ids` and no output yet.
  explicit PenaltyState(std::span<const int32_t> prompt_ids) { AddPromptTokens(prompt_ids); }

  // Records prompt tokens (they count for the repetition penalty only). May be called several
  // times, e.g. once per prefill chunk. REQUIRES: ids >= 0.
  void AddPromptTokens(std::span<const int32_t> ids);
  // Records one generated token. REQUIRES: token >= 0.
  void AddOutputToken(int32_t token);

  int64_t num_output_tokens() const { return num_output_tokens_; }
  int64_t num_distinct_tokens() const { return int64_t(entries_.size()); }
  // How often `token` occurs in the output so far; whether it occurs in the prompt.
  int32_t OutputCount(int32_t token) const;
  bool InPrompt(int32_t token) const;

  // Applies params' penalties to `logits` (one row, indexed by token id) in place, in vLLM's
  // order: for every token seen in the prompt or output, the repetition penalty (a positive
  // logit divided by it, a negative one multiplied); then for every token in the output,
  //   logit -= frequency_penalty * count;  logit -= presence_penalty.
  // REQUIRES: every recorded token id is a valid index into `logits`.
  void Apply(const SamplingParams& params, float* logits) const;

  // One distinct token seen so far.
  struct Entry {
    int32_t token;
    int32_t output_count;  // occurrences in the output
    bool in_prompt;
  };
  // Every token seen in the prompt or the output, once, in order of first appearance: what
  // Apply() penalises (e.g. to hand the penalties to a device sampler). Valid until the next Add.
  std::span<const Entry> entries() const { return entries_; }

 private:
  // The entry of `token`, created (count 0, not in prompt) when missing.
  Entry& FindOrInsert(int32_t token);
  int32_t Find(int32_t token) const;  // the entry index, or -1
  void Rehash(size_t num_slots);

  std::vector<Entry> entries_;  // in order of first appearance
  std::vector<int32_t> slots_;  // power-of-two table of entry indices, -1 = empty
  int64_t num_output_tokens_ = 0;
};

}  // namespace atom
