#include "engine/memory_profile.h"

#include <algorithm>
#include <vector>

#include "engine/kv_cache.h"
#include "engine/step_metadata.h"

namespace atom {

namespace {

// One profile step's batch: `decodes` sequences of one token at position context - 1, then (if
// prefill > 0) one sequence of `prefill` tokens from position 0. Nothing is stored (slot -1);
// every block table entry is block 0; every sequence wants its last row's logits, as the
// scheduler's steps do.
StepMetadata ProfileStepMetadata(const ProfileStepShape& shape, int block_size) {
  StepMetadata md;
  const int seqs = shape.decodes + (shape.prefill_tokens > 0 ? 1 : 0);
  md.block_size = block_size;
  md.max_blocks_per_seq =
      int((std::max(shape.context, shape.prefill_tokens) + block_size - 1) / block_size);
  md.query_start.push_back(0);
  for (int s = 0; s < shape.decodes; ++s) {
    md.positions.push_back(int32_t(shape.context - 1));
    md.seq_lens.push_back(int32_t(shape.context));
    md.query_start.push_back(md.query_start.back() + 1);
  }
  if (shape.prefill_tokens > 0) {
    for (int64_t p = 0; p < shape.prefill_tokens; ++p) md.positions.push_back(int32_t(p));
    md.seq_lens.push_back(int32_t(shape.prefill_tokens));
    md.query_start.push_back(md.query_start.back() + int32_t(shape.prefill_tokens));
  }
  md.token_ids.assign(md.positions.size(), 0);
  md.slot_mapping.assign(md.positions.size(), -1);
  md.block_tables.assign(size_t(seqs) * md.max_blocks_per_seq, 0);
  for (int s = 0; s < seqs; ++s) md.logits_indices.push_back(md.query_start[s + 1] - 1);
  return md;
}

}  // namespace

std::vector<ProfileStepShape> MemoryProfileSteps(const EngineConfig& config,
                                                 int64_t max_position_embeddings) {
  const int64_t max_len = config.max_model_len > 0 ? config.max_model_len : max_position_embeddings;
  const int64_t budget = config.scheduler.max_num_batched_tokens;
  const int seqs =
      int(std::max<int64_t>(1, std::min<int64_t>(config.scheduler.max_num_seqs, budget)));
  std::vector<ProfileStepShape> steps = {
      {0, 0, std::min(budget, max_len)},
      {seqs, max_len, 0},
      {seqs - 1, max_len, std::min(budget - (seqs - 1), max_len)},
  };
  std::erase_if(steps, [](const ProfileStepShape& s) { return s.decodes + s.prefill_tokens == 0; });
  return steps;
}

Status RunMemoryProfile(Model& model, const EngineConfig& config) {
  const KvCacheSpec spec = model.kv_cache_spec();
  if (spec.device.type == DeviceType::kCpu) return OkStatus();
  ATOM_ASSIGN_OR_RETURN(KvCache scratch, KvCache::Create(spec, 1, config.block_size));
  for (const ProfileStepShape& shape :
       MemoryProfileSteps(config, model.config().max_position_embeddings)) {
    const StepMetadata md = ProfileStepMetadata(shape, config.block_size);
    HostTensor logits(DType::kF32, {int64_t(md.logits_indices.size()), model.config().vocab_size});
    ATOM_RETURN_IF_ERROR(model.Forward(md.Batch(), scratch.view(), logits));
  }
  return OkStatus();
}

}  // namespace atom
