// The profiling pass that precedes sizing a device KV cache: before the engine asks how much
// device memory is left for KV blocks, the model runs the largest steps the scheduler can give it,
// so that everything it allocates lazily (step activations, attention split-KV and GEMM
// workspaces, the largest decode CUDA graph) already counts as used.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "models/model.h"

namespace atom {

// One step of the profiling pass: `decodes` sequences of one token each at context `context`,
// then (prefill_tokens > 0) one sequence prefilling that many tokens from position 0.
struct ProfileStepShape {
  int decodes = 0;
  int64_t context = 0;
  int64_t prefill_tokens = 0;
  bool operator==(const ProfileStepShape&) const = default;
};

// The steps of the pass for `config` on a model of `max_position_embeddings` (the context when
// config.max_model_len is 0), in the order RunMemoryProfile runs them (see below).
std::vector<ProfileStepShape> MemoryProfileSteps(const EngineConfig& config,
                                                 int64_t max_position_embeddings);

// Runs, over a scratch KV cache of one block on the model's device (every block table entry
// points at it and no token stores into it: slots are -1, which the device KV writers skip), the
// step shapes that need the most memory under `config`:
//   - a prefill of min(max_num_batched_tokens, max_model_len) tokens;
//   - a decode of max_num_seqs sequences at the longest context (max_model_len), which also
//     captures the largest decode graph;
//   - a mixed step: max_num_seqs - 1 such decodes and a prefill chunk of the remaining tokens.
// The outputs are discarded. For models on the CPU this does nothing (host KV memory is sized by
// --kv-cache-memory).
Status RunMemoryProfile(Model& model, const EngineConfig& config);

}  // namespace atom
