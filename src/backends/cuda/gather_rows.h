// Row gather on the GPU: out[i] = in[rows[i]], for the rows of a step whose logits are wanted.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

// in: bf16 [*, dim]; rows: i32 [num_rows] (device; REQUIRES each a valid row of `in`);
// out: bf16 [num_rows, dim], not overlapping `in`. No allocation or synchronisation.
Status GatherRowsBf16(const __nv_bfloat16* in, int64_t dim, const int32_t* rows, int64_t num_rows,
                      __nv_bfloat16* out, cudaStream_t stream);

}  // namespace atom::cuda
