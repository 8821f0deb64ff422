// Dense linear layers for a few tokens (decode steps): out = x · weightᵀ + bias on bf16 weights,
// read once at the memory rate. At T <= kDenseGemvMaxTokens a GEMM library's tiles are mostly
// empty and its kernels reach ~2 TB/s on the H100 (bench/RESULTS.md); these kernels stream the
// weight rows through registers with 16-byte loads, several in flight per lane.
// One portable variant (sm_80 and later).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

inline constexpr int kDenseGemvMaxTokens = 8;

enum class GemvDType { kBf16, kF32 };

struct DenseGemvArgs {
  const __nv_bfloat16* x = nullptr;  // [tokens, in], rows x_stride elements apart
  int64_t x_stride = 0;
  const __nv_bfloat16* weight = nullptr;  // [out_features, in], row-major (checkpoint layout)
  const void* bias = nullptr;             // [out_features] of bias_dtype, or null
  GemvDType bias_dtype = GemvDType::kBf16;
  void* out = nullptr;  // [tokens, out_features], rows out_stride apart
  GemvDType out_dtype = GemvDType::kBf16;
  int64_t out_stride = 0;
  int tokens = 0, in = 0, out_features = 0;
  // Warps per output row: 1 (each warp owns two rows) or 4 (a CTA's warps split one row's
  // `in`). 0 picks: 4 for one or two tokens, or when the rows would give the SMs fewer than 8
  // warps each; else 1 (on an H100, bench/RESULTS.md).
  int split = 0;
};

// Whether DenseGemv beats cuBLASLt for `tokens` rows of x and `out_features` outputs. Measured on
// an H100 (bench/RESULTS.md): at T = 1 qkv 11.7 vs 13.5 µs, o 9.9 vs 13.5, router 2.5 vs 5.6,
// unembedding 363 vs 409; at T = 4 qkv 13.7 (a tie), o 12.5, unembedding 386; at T = 8 only the
// router (3.5 vs 5.7; qkv 23.6 vs 13.7).
inline bool DenseGemvPreferred(int64_t tokens, int64_t out_features) {
  return tokens >= 1 && (tokens <= 4 || (tokens <= kDenseGemvMaxTokens && out_features <= 1024));
}

// out[t, n] = Σ_i x[t, i] · weight[n, i] + bias[n] for t < tokens, n < out_features: products
// and sums in f32 (a fixed order per row that does not depend on `tokens`, so a token's output
// bits do not depend on the batch), bias added last, bf16 output rounded once (nearest even).
// REQUIRES 1 <= tokens <= kDenseGemvMaxTokens; in % 8 == 0; x, weight and x_stride 16-byte
// aligned (in elements: x_stride % 8 == 0); out must not overlap the inputs.
// No allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument.
Status DenseGemv(const DenseGemvArgs& args, cudaStream_t stream);

}  // namespace atom::cuda
