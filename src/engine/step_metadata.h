// StepMetadata: the host arrays of one step's batch — tokens, the attention metadata's arrays and
// the wanted logits rows — and the ForwardBatch that views them. The model runner refills one per
// step (the vectors keep their capacity); the memory profile builds its own.
#pragma once

#include <cstdint>
#include <vector>

#include "models/model.h"

namespace atom {

struct StepMetadata {
  std::vector<int32_t> token_ids, positions, query_start, seq_lens, block_tables, logits_indices;
  std::vector<int64_t> slot_mapping;
  int max_blocks_per_seq = 0;
  int block_size = 0;

  // A batch over these arrays, valid while they are unchanged (no argmax or sampling requests).
  ForwardBatch Batch() const {
    ForwardBatch batch;
    batch.token_ids = token_ids.data();
    batch.attention.num_seqs = int(seq_lens.size());
    batch.attention.num_tokens = int(token_ids.size());
    batch.attention.query_start = query_start.data();
    batch.attention.seq_lens = seq_lens.data();
    batch.attention.positions = positions.data();
    batch.attention.slot_mapping = slot_mapping.data();
    batch.attention.block_tables = block_tables.data();
    batch.attention.max_blocks_per_seq = max_blocks_per_seq;
    batch.attention.block_size = block_size;
    batch.logits_indices = logits_indices.data();
    batch.num_logits = int(logits_indices.size());
    return batch;
  }
};

}  // namespace atom
