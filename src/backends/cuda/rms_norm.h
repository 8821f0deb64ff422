// Fused residual add + RMSNorm on the GPU: ops::AddFn followed by ops::RmsNormFn
// (src/ops/op_signatures.h) in one pass, with the f32 residual stream in and out and the normed
// activations written as bf16 (spec §4.2: computed in f32, rounded to bf16 at the end).
// One portable variant (sm_80 and later).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

// For each row t < num_tokens:
//   if delta: residual[t] += delta[t]           (f32 add, written back: ops::AddFn)
//   out[t] = bf16(residual[t] / sqrt(mean(residual[t]²) + eps) * gain)   (ops::RmsNormFn)
// residual: f32 [num_tokens, dim] (in/out); delta: f32 [num_tokens, dim] or null (then residual is
// only read); gain: bf16 [dim]; out: bf16 [num_tokens, dim]. All device memory; out must not
// overlap residual or delta. Differs from RmsNormFn only in the output dtype (bf16, round to
// nearest even) and in the order of the sum of squares (a block tree, not left to right).
// One block per row. With dim % 8 == 0, dim <= 32768 and every pointer 16-byte aligned the row
// is held in registers and moved with 16-byte accesses (read once, written once); otherwise a
// scalar two-pass path runs. dim <= kRmsNormMaxDim.
// No allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument.
inline constexpr int64_t kRmsNormMaxDim = 65536;
Status FusedAddRmsNorm(float* residual, const float* delta, const __nv_bfloat16* gain, float eps,
                       int64_t num_tokens, int64_t dim, __nv_bfloat16* out, cudaStream_t stream);

// As FusedAddRmsNorm with delta[t] = Σ_{i<k} weights[t, i] · pair_rows[t·k + i] (f32 fma from zero
// in slot order: the MoE combine of ops::MoeExpertsFn, bit for bit), so the MoE's per-pair outputs
// (LaunchMoeExperts with out = null, moe.h) reach the residual without a combine pass.
// pair_rows: f32 [num_tokens·k, dim]; weights: f32 [num_tokens, k]; 1 <= k <= 32.
Status FusedCombineAddRmsNorm(float* residual, const float* pair_rows, const float* weights, int k,
                              const __nv_bfloat16* gain, float eps, int64_t num_tokens, int64_t dim,
                              __nv_bfloat16* out, cudaStream_t stream);

}  // namespace atom::cuda
