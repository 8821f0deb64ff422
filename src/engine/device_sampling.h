// DeviceSamplingBatch: one step's sampling rows (engine/sampler.h's SampleRow) in the form a
// model that samples where its logits are takes (ops/sampling_rows.h), and the model's results
// back as SampleResults.
//
// The edits carry exactly what Sample() changes before it draws: logit_bias, the min_tokens bans
// (stop_token_ids, and the EOS ids unless ignore_eos, while position < min_tokens), and every
// token of the PenaltyState with its output count when a penalty is on. Reused from step to
// step: it allocates only when a step is larger than any before. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/sampler.h"
#include "ops/sampling_rows.h"

namespace atom {

class DeviceSamplingBatch {
 public:
  // Starts a new step (no rows).
  void Clear();
  // Appends one row; row.logits is not read. REQUIRES: row.params validated against the
  // vocabulary, with logprobs <= ops::kMaxTopLogprobs; row.penalties set when it has penalties.
  void Add(const SampleRow& row);
  size_t size() const { return rows_.size(); }

  // The request with room for the results; valid until the next Clear or Add.
  const ops::SamplingRows& request();
  // Row k's result, once the model has filled request()'s outputs. REQUIRES: k < size().
  void Result(size_t k, SampleResult* result) const;

 private:
  std::vector<ops::SamplingRow> rows_;
  std::vector<ops::LogitEdit> edits_;
  std::vector<int32_t> tokens_, top_tokens_;
  std::vector<float> logprobs_, top_logprobs_;
  ops::SamplingRows request_;
};

}  // namespace atom
