// ModelRunner: turns a scheduled step into the model's inputs, runs the model over the paged KV
// cache, and hands back the logits rows the step asked for.
//
// It owns the KV memory (KvCache) and the step's metadata arrays; everything else it gets per
// call. On the GPU this is where metadata goes into fixed device buffers for graph replay.
// Not thread-safe: the engine loop owns it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "engine/kv_cache.h"
#include "engine/scheduler.h"
#include "engine/step_metadata.h"
#include "models/model.h"

namespace atom {

// Logits of one step: for scheduled sequence i (in SchedulerOutput order), rows
// [first_row[i], first_row[i] + num_rows[i]) of `logits` [rows, vocab]. The view is valid until
// the runner's next Run.
struct StepLogits {
  Tensor logits;
  std::vector<int32_t> first_row;
  std::vector<int32_t> num_rows;  // 0: the sequence needs no logits this step
  // With Run(..., argmax_only): each row's argmax token instead of `logits` (left undefined; also
  // with Run(..., sampling), whose results go to the caller's buffers).
  std::vector<int32_t> argmax;

  // The row of the sequence's last scheduled token. REQUIRES: num_rows[i] > 0.
  const float* Last(size_t i) const { return Row(first_row[i] + num_rows[i] - 1); }
  const float* Row(int32_t row) const {
    return logits.data_as<const float>() + int64_t(row) * logits.dim(1);
  }
};

class ModelRunner {
 public:
  // `model` must outlive the runner; `cache` was made from its kv_cache_spec().
  ModelRunner(Model& model, KvCache cache) : model_(model), cache_(std::move(cache)) {}

  Model& model() const { return model_; }
  int block_size() const { return cache_.block_size(); }

  // Runs the step. `all_rows[i]`: sequence i wants the logits of every token it computes (prompt
  // logprobs); otherwise only sequences whose chunk ends their known tokens get one row.
  // `argmax_only` (REQUIRES model().SupportsArgmax()): the rows' argmax tokens, not the logits.
  // `sampling` (REQUIRES model().SupportsSampling(), not with argmax_only, one row per logits
  // row): the model samples the rows and writes sampling's outputs; no logits come back.
  StatusOr<StepLogits> Run(const SchedulerOutput& step, const std::vector<bool>& all_rows,
                           bool argmax_only = false, const ops::SamplingRows* sampling = nullptr);

  // Copies a block's keys and values in every layer (a forked sequence's partial last block).
  Status CopyBlock(int32_t src, int32_t dst) { return cache_.CopyBlock(src, dst); }

 private:
  Model& model_;
  KvCache cache_;
  // The step's metadata, reused between steps.
  StepMetadata md_;
  Buffer logits_;  // grows to the largest step; reused (a 256-row step is 200 MB at 201k vocab)
};

}  // namespace atom
