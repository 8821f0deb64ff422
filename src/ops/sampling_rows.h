// SamplingRows: one step's sampling requests for a model that samples where its logits are
// (Model::SupportsSampling), and where the results go.
//
// Each logits row carries what engine/sampler.h's Sample() reads, flattened: the numeric
// parameters and the draw's coordinates in a SamplingRow, and everything that changes single
// logits (logit_bias, the min_tokens bans of stop ids and EOS, the penalised tokens with their
// output counts) as a list of LogitEdits. The model must produce exactly what Sample() would
// (backends/cuda/sample_rows.h states how close the GPU comes).
#pragma once

#include <cstdint>

namespace atom::ops {

// The longest top-logprob list a row may ask for (SamplingParams::kMaxLogprobs).
inline constexpr int kMaxTopLogprobs = 20;

struct SamplingRow {
  float temperature = 1.0f;  // 0: greedy
  int32_t top_k = 0;         // <= 0 or >= vocab: off
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;  // the draw's coordinates (core/philox.h)
  uint32_t seq_index = 0;
  int64_t position = 0;
  int32_t num_logprobs = -1;  // -1: none; else the top list's length, <= kMaxTopLogprobs
  // The row's edits: [first_edit, first_edit + num_edits) of SamplingRows::edits, ordered by
  // kind (biases, then bans, then penalties).
  int32_t first_edit = 0;
  int32_t num_edits = 0;
};

struct LogitEdit {
  enum class Kind : int32_t {
    kBias,     // logit += bias
    kBan,      // logit = -inf
    kPenalty,  // a token seen in the prompt or the output: PenaltyState::Apply's rule
  };
  int32_t token = 0;
  Kind kind = Kind::kBias;
  float bias = 0.0f;         // kBias
  int32_t output_count = 0;  // kPenalty: occurrences in the output so far
};

// Inputs and (host) outputs of one step's device sampling. All pointers are the caller's.
struct SamplingRows {
  const SamplingRow* rows = nullptr;  // [num_rows], one per logits row, in logits-row order
  int num_rows = 0;
  const LogitEdit* edits = nullptr;  // [num_edits]
  int64_t num_edits = 0;
  int32_t* tokens = nullptr;      // [num_rows]
  float* logprobs = nullptr;      // [num_rows]: 0 for rows without logprobs
  int32_t* top_tokens = nullptr;  // [num_rows, kMaxTopLogprobs]; -1 past a row's list
  float* top_logprobs = nullptr;  // [num_rows, kMaxTopLogprobs]
};

}  // namespace atom::ops
