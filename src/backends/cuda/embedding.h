// Token embedding lookup on the GPU: ops::EmbeddingFn (src/ops/op_signatures.h) for a bf16 table,
// writing the f32 residual stream. One portable variant (sm_80 and later).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

// out[t, :] = float(table[ids[t], :]) for t < num_tokens, exactly (bf16 widens to f32 exactly).
//   table: bf16 [vocab, dim], ids: i32 [num_tokens], out: f32 [num_tokens, dim]; all device memory.
// Same contract as ops::EmbeddingFn with a bf16 table, except that an id outside [0, vocab) (which
// the engine's admission checks exclude) reads nothing and yields a row of NaN rather than
// undefined behaviour. 16-byte loads and stores when dim % 8 == 0 and table and out are 16-byte
// aligned; a scalar path otherwise. No allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument (non-positive sizes, null pointers).
Status EmbeddingBf16(const __nv_bfloat16* table, int64_t vocab, int64_t dim, const int32_t* ids,
                     int64_t num_tokens, float* out, cudaStream_t stream);

}  // namespace atom::cuda
