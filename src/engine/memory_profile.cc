#include "engine/memory_profile.h"

#include <algorithm>
#include <vector>

#include "engine/kv_cache.h"

namespace atom {

namespace {

// One step's host arrays: `decodes` sequences of one token at position context - 1, then (if
// prefill > 0) one sequence of `prefill` tokens from position 0. Nothing is stored (slot -1);
// every block table entry is block 0.
struct ProfileStep {
  std::vector<int32_t> tokens, positions, query_start, seq_lens, block_tables, rows;
  std::vector<int64_t> slots;
  int max_blocks_per_seq = 0;

  ProfileStep(int decodes, int64_t context, int64_t prefill, int block_size) {
    const int seqs = decodes + (prefill > 0 ? 1 : 0);
    max_blocks_per_seq = int((std::max(context, prefill) + block_size - 1) / block_size);
    query_start.push_back(0);
    for (int s = 0; s < decodes; ++s) {
      positions.push_back(int32_t(context - 1));
      seq_lens.push_back(int32_t(context));
      query_start.push_back(query_start.back() + 1);
    }
    if (prefill > 0) {
      for (int64_t p = 0; p < prefill; ++p) positions.push_back(int32_t(p));
      seq_lens.push_back(int32_t(prefill));
      query_start.push_back(query_start.back() + int32_t(prefill));
    }
    tokens.assign(positions.size(), 0);
    slots.assign(positions.size(), -1);
    block_tables.assign(size_t(seqs) * max_blocks_per_seq, 0);
    // Every sequence wants its last row's logits, as the scheduler's steps do.
    for (int s = 0; s < seqs; ++s) rows.push_back(query_start[s + 1] - 1);
  }

  Status Run(Model& model, const KvCacheView& cache, int block_size) const {
    ForwardBatch batch;
    batch.token_ids = tokens.data();
    batch.attention.num_seqs = int(seq_lens.size());
    batch.attention.num_tokens = int(tokens.size());
    batch.attention.query_start = query_start.data();
    batch.attention.seq_lens = seq_lens.data();
    batch.attention.positions = positions.data();
    batch.attention.slot_mapping = slots.data();
    batch.attention.block_tables = block_tables.data();
    batch.attention.max_blocks_per_seq = max_blocks_per_seq;
    batch.attention.block_size = block_size;
    batch.logits_indices = rows.data();
    batch.num_logits = int(rows.size());
    HostTensor logits(DType::kF32, {int64_t(rows.size()), model.config().vocab_size});
    return model.Forward(batch, cache, logits);
  }
};

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
    const ProfileStep step(shape.decodes, shape.context, shape.prefill_tokens, config.block_size);
    ATOM_RETURN_IF_ERROR(step.Run(model, scratch.view(), config.block_size));
  }
  return OkStatus();
}

}  // namespace atom
