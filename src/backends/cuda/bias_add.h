// Row-broadcast bias add on the GPU: the fallback for a linear layer whose bias the GEMM library
// cannot fuse into its epilogue (see cublaslt_linear.h). One portable variant (sm_80 and later).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

// out[r, c] += bias[c] for r < rows, c < cols, the add in f32 and (for a bf16 out) one rounding
// to nearest even. out: f32 (out_is_bf16 false) or bf16 [rows, ld_out] with cols <= ld_out;
// bias: f32 (bias_is_bf16 false) or bf16 [cols]; device memory.
// No allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument.
Status AddBiasRows(void* out, bool out_is_bf16, int64_t ld_out, const void* bias, bool bias_is_bf16,
                   int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace atom::cuda
