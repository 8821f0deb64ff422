#include "engine/model_runner.h"

#include <algorithm>

namespace atom {

StatusOr<StepLogits> ModelRunner::Run(const SchedulerOutput& step,
                                      const std::vector<bool>& all_rows, bool argmax_only,
                                      const ops::SamplingRows* sampling) {
  const int bs = cache_.block_size();
  token_ids_.clear();
  positions_.clear();
  slot_mapping_.clear();
  seq_lens_.clear();
  logits_indices_.clear();
  query_start_.assign(1, 0);
  int max_blocks = 0;
  for (const ScheduledSequence& s : step.scheduled)
    max_blocks = std::max(max_blocks, int(s.seq->block_table.blocks.size()));
  block_tables_.assign(step.scheduled.size() * max_blocks, 0);

  StepLogits out;
  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    const ScheduledSequence& s = step.scheduled[i];
    const Sequence& seq = *s.seq;
    const std::vector<int32_t>& blocks = seq.block_table.blocks;
    std::copy(blocks.begin(), blocks.end(), block_tables_.begin() + i * max_blocks);
    out.first_row.push_back(int32_t(logits_indices_.size()));
    const int64_t begin = seq.num_computed, end = seq.num_computed + s.num_tokens;
    for (int64_t pos = begin; pos < end; ++pos) {
      const int32_t row = int32_t(token_ids_.size());
      token_ids_.push_back(seq.tokens[pos]);
      positions_.push_back(int32_t(pos));
      slot_mapping_.push_back(int64_t(blocks[pos / bs]) * bs + pos % bs);
      if (all_rows[i] || (s.samples && pos == end - 1)) logits_indices_.push_back(row);
    }
    out.num_rows.push_back(int32_t(logits_indices_.size()) - out.first_row.back());
    query_start_.push_back(int32_t(token_ids_.size()));
    seq_lens_.push_back(int32_t(end));
  }

  ForwardBatch batch;
  batch.token_ids = token_ids_.data();
  batch.attention.num_seqs = int(step.scheduled.size());
  batch.attention.num_tokens = int(token_ids_.size());
  batch.attention.query_start = query_start_.data();
  batch.attention.seq_lens = seq_lens_.data();
  batch.attention.positions = positions_.data();
  batch.attention.slot_mapping = slot_mapping_.data();
  batch.attention.block_tables = block_tables_.data();
  batch.attention.max_blocks_per_seq = max_blocks;
  batch.attention.block_size = bs;
  batch.logits_indices = logits_indices_.data();
  batch.num_logits = int(logits_indices_.size());

  if (sampling != nullptr) {
    if (argmax_only || sampling->num_rows != batch.num_logits)
      return Internal("device sampling of {} rows for {} logits rows{}", sampling->num_rows,
                      batch.num_logits, argmax_only ? " with argmax" : "");
    batch.sampling = sampling;
    ATOM_RETURN_IF_ERROR(model_.Forward(batch, cache_.view(), Tensor()));
    return out;
  }
  if (argmax_only) {
    out.argmax.resize(logits_indices_.size());
    batch.argmax = out.argmax.data();
    ATOM_RETURN_IF_ERROR(model_.Forward(batch, cache_.view(), Tensor()));
    return out;
  }
  const Shape shape{int64_t(logits_indices_.size()), model_.config().vocab_size};
  const size_t bytes = size_t(shape.numel()) * sizeof(float);
  if (logits_.size() < bytes) logits_ = Buffer(bytes);
  out.logits = logits_.View(DType::kF32, shape);
  ATOM_RETURN_IF_ERROR(model_.Forward(batch, cache_.view(), out.logits));
  return out;
}

}  // namespace atom
