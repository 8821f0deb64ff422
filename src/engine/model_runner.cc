#include "engine/model_runner.h"

#include <algorithm>

namespace atom {

StatusOr<StepLogits> ModelRunner::Run(const SchedulerOutput& step,
                                      const std::vector<bool>& all_rows, bool argmax_only,
                                      const ops::SamplingRows* sampling) {
  const int bs = cache_.block_size();
  md_.token_ids.clear();
  md_.positions.clear();
  md_.slot_mapping.clear();
  md_.seq_lens.clear();
  md_.logits_indices.clear();
  md_.query_start.assign(1, 0);
  int max_blocks = 0;
  for (const ScheduledSequence& s : step.scheduled)
    max_blocks = std::max(max_blocks, int(s.seq->block_table.blocks.size()));
  md_.block_tables.assign(step.scheduled.size() * max_blocks, 0);

  StepLogits out;
  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    const ScheduledSequence& s = step.scheduled[i];
    const Sequence& seq = *s.seq;
    const std::vector<int32_t>& blocks = seq.block_table.blocks;
    std::copy(blocks.begin(), blocks.end(), md_.block_tables.begin() + i * max_blocks);
    out.first_row.push_back(int32_t(md_.logits_indices.size()));
    const int64_t begin = seq.num_computed, end = seq.num_computed + s.num_tokens;
    for (int64_t pos = begin; pos < end; ++pos) {
      const int32_t row = int32_t(md_.token_ids.size());
      md_.token_ids.push_back(seq.tokens[pos]);
      md_.positions.push_back(int32_t(pos));
      md_.slot_mapping.push_back(int64_t(blocks[pos / bs]) * bs + pos % bs);
      if (all_rows[i] || (s.samples && pos == end - 1)) md_.logits_indices.push_back(row);
    }
    out.num_rows.push_back(int32_t(md_.logits_indices.size()) - out.first_row.back());
    md_.query_start.push_back(int32_t(md_.token_ids.size()));
    md_.seq_lens.push_back(int32_t(end));
  }

  md_.max_blocks_per_seq = max_blocks;
  md_.block_size = bs;
  ForwardBatch batch = md_.Batch();

  if (sampling != nullptr) {
    if (argmax_only || sampling->num_rows != batch.num_logits)
      return Internal("device sampling of {} rows for {} logits rows{}", sampling->num_rows,
                      batch.num_logits, argmax_only ? " with argmax" : "");
    batch.sampling = sampling;
    ATOM_RETURN_IF_ERROR(model_.Forward(batch, cache_.view(), Tensor()));
    return out;
  }
  if (argmax_only) {
    out.argmax.resize(md_.logits_indices.size());
    batch.argmax = out.argmax.data();
    ATOM_RETURN_IF_ERROR(model_.Forward(batch, cache_.view(), Tensor()));
    return out;
  }
  const Shape shape{int64_t(md_.logits_indices.size()), model_.config().vocab_size};
  const size_t bytes = size_t(shape.numel()) * sizeof(float);
  if (logits_.size() < bytes) logits_ = Buffer(bytes);
  out.logits = logits_.View(DType::kF32, shape);
  ATOM_RETURN_IF_ERROR(model_.Forward(batch, cache_.view(), out.logits));
  return out;
}

}  // namespace atom
