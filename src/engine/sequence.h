// Sequence: one stream of tokens being generated — a request has `n` of them. The scheduler
// moves it between waiting and running; the model runner reads its tokens and block table.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/block_manager.h"

namespace atom {

enum class SequenceStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  int64_t id = 0;          // unique in the engine
  int64_t request_id = 0;  // the request it belongs to
  int index = 0;           // which of the request's n outputs (0 .. n-1)
  int64_t admission = 0;   // increases with each (re)admission: FCFS and preemption order

  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t num_prompt_tokens = 0;
  // Tokens whose keys and values are in the cache. The next step computes tokens from here on;
  // when all are computed, the sequence samples its next token.
  int64_t num_computed = 0;
  BlockTable block_table;
  SequenceStatus status = SequenceStatus::kWaiting;

  int64_t num_tokens() const { return int64_t(tokens.size()); }
  int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  int64_t num_uncomputed() const { return num_tokens() - num_computed; }
  // Still in its prompt: some prompt tokens are not computed yet.
  bool in_prefill() const { return num_computed < num_prompt_tokens; }
};

}  // namespace atom
