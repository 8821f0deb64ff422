// AttentionMetadata: where each token of a step's batch sits in the paged KV cache.
//
// A step's batch is a flat list of tokens from several sequences, sequence s owning tokens
// [query_start[s], query_start[s+1]). Every backend reads the same metadata; on the GPU the
// arrays live in fixed device buffers so a decode step can replay as one CUDA graph.
#pragma once

#include <cstdint>

namespace atom::ops {

struct AttentionMetadata {
  int num_seqs = 0;
  int num_tokens = 0;
  // [num_seqs + 1] prefix sums of tokens per sequence (cu_seqlens_q).
  const int32_t* query_start = nullptr;
  // [num_seqs] tokens of each sequence in the cache once this step's keys are written: the
  // context the sequence's last query token sees (before windowing).
  const int32_t* seq_lens = nullptr;
  // [num_tokens] absolute position of each token (0 = first token of its sequence).
  const int32_t* positions = nullptr;
  // [num_tokens] cache slot receiving each token's key and value: block * block_size + offset.
  const int64_t* slot_mapping = nullptr;
  // [num_seqs, max_blocks_per_seq] physical block of each logical block of each sequence.
  const int32_t* block_tables = nullptr;
  int max_blocks_per_seq = 0;
  int block_size = 0;
};

}  // namespace atom::ops
