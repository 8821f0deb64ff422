// The profiling pass that precedes sizing a device KV cache: before the engine asks how much
// device memory is left for KV blocks, the model runs the largest steps the scheduler can give it,
// so that everything it allocates lazily (step activations, attention split-KV and GEMM
// workspaces, the largest decode CUDA graph) already counts as used.
#pragma once

#include "core/status.h"
#include "engine/engine.h"
#include "models/model.h"

namespace atom {

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
