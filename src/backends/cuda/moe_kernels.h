// The stages of LaunchMoeExperts (moe.h), each a launcher over raw device pointers. Internal to
// the MoE op; the lead's selection works through moe.h.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/moe.h"
#include "core/status.h"

namespace atom::cuda::moe {

// The (token, slot) pairs p = t·k + slot grouped by expert, written by LaunchRouting.
struct Routing {
  int32_t* offsets = nullptr;       // [E + 1]: expert e's pairs are sorted[offsets[e] ..)
  int32_t* tile_offsets = nullptr;  // [E + 1]: prefix sums of ceil(count_e / tile_rows)
  int32_t* active = nullptr;        // [E]: the experts with pairs, ascending; the rest unset
  int32_t* num_active = nullptr;    // [1]
  int4* slots = nullptr;            // [E]: per active expert {expert, first sorted pos, count, 0}
  int32_t* sorted = nullptr;        // [pairs]: pair indices, grouped by expert (any order within)
};

// Counting sort of `pairs` expert indices (REQUIRES: in [0, E); others are dropped) by one CTA
// of kMaxRoutingExperts threads (one per expert for the prefix sums).
// REQUIRES: num_experts <= kMaxRoutingExperts.
inline constexpr int kMaxRoutingExperts = 1024;
Status LaunchRouting(const int32_t* indices, int pairs, int num_experts, int tile_rows,
                     const Routing& routing, cudaStream_t stream);

// The router's output computed inside the routing step: from logits f32 [tokens, E] the top-k
// experts and softmax weights (as RouterTopK, router.h) are written to indices / weights
// [tokens, k], then sorted as above. One CTA: for steps of few tokens (one warp per token).
// REQUIRES num_experts <= kRouterMaxExperts, 1 <= k <= min(num_experts, kRouterMaxTopK).
struct FusedTopK {
  const float* logits = nullptr;
  int k = 0;
  int32_t* indices = nullptr;
  float* weights = nullptr;
};
Status LaunchRoutingWithTopK(const FusedTopK& topk, int tokens, int num_experts, int tile_rows,
                             const Routing& routing, cudaStream_t stream);

// Re-lays out `experts` consecutive experts of one checkpoint MXFP4 matrix [rows, cols]
// (blocks u8 [experts, rows, cols/32, 16], scales u8 [experts, rows, cols/32], device memory)
// into the layout of moe_mxfp4_layout.cuh at codes / scales (the first of those experts).
// gate_up: pair the interleaved gate/up rows by tile. wide: store scales as is (else s + 126;
// REQUIRES then every scale <= 128).
Status LaunchMxfp4Relayout(const uint8_t* blocks, const uint8_t* scales, int experts, int rows,
                           int cols, bool gate_up, bool wide, uint32_t* codes, uint8_t* out_scales,
                           cudaStream_t stream);

// One of the two expert GEMMs over the routed pairs.
//   gate_up: act[pos, j] = bf16(SwiGlu(W1 x + b1)) for sorted position pos (rows = 2I, cols = D,
//            input x [T, D] read at token sorted[pos] / k);
//   else:    y[sorted[pos], r] = (W2 act[pos] + b2)[r] (rows = D, cols = I, input act).
struct GemmArgs {
  bool gate_up = true;
  bool wide = false;
  const uint32_t* codes = nullptr;  // all experts, layout of moe_mxfp4_layout.cuh
  const uint8_t* scales = nullptr;
  const __nv_bfloat16* bias = nullptr;  // [E, rows] (W1: checkpoint's interleaved order)
  int rows = 0, cols = 0;
  int num_experts = 0, k = 1, tokens = 0;
  const __nv_bfloat16* in = nullptr;
  __nv_bfloat16* act = nullptr;  // gate_up: [T·k, rows / 2]
  float* y = nullptr;            // else: [T·k, rows]
  float limit = 7.0f, alpha = 1.702f;
  const int32_t* offsets = nullptr;
  const int32_t* tile_offsets = nullptr;
  const int32_t* active = nullptr;
  const int32_t* num_active = nullptr;
  const int4* slots = nullptr;
  const int32_t* sorted = nullptr;
};

// REQUIRES for the decode GEMM: cols <= kDecodeMaxCols (each of its 8 warps holds at most 4
// quads of a row block in registers).
inline constexpr int kDecodeMaxCols = 8 * 4 * 128;
Status LaunchDecodeGemm(const GemmArgs& args, cudaStream_t stream);

// The register-streaming decode GEMM (moe_stream.cu).
Status LaunchStreamGemm(const GemmArgs& args, cudaStream_t stream);
// Its sm_90a form with bulk copies into shared memory (moe_stream_tma.cu). Unimplemented where
// the device does not run sm_90a code.
Status LaunchStreamTmaGemm(const GemmArgs& args, cudaStream_t stream);
// Its dynamic shared memory per CTA (= ops::kMoeStreamTmaSharedBytes, which selection checks).
int StreamTmaSharedBytes();
// tile_rows 64 or 128; routing.tile_offsets must have been built with the same tile_rows.
Status LaunchTiledGemm(const GemmArgs& args, int tile_rows, cudaStream_t stream);
// Dynamic shared memory the tiled kernel needs.
int TiledGemmSharedBytes(int tile_rows);

// y[p] = expert_{indices[p]}(x[p / k]) for every pair p < tokens·k, bf16 [in, out] experts.
Status LaunchBf16Experts(const MoeDeviceExperts& experts, const __nv_bfloat16* x, int tokens,
                         const int32_t* indices, int k, float* y, cudaStream_t stream);

// out[t] = Σ_{i<k} weights[t, i] · y[t·k + i] in slot order (f32 fma from zero).
Status LaunchCombine(const float* y, const float* weights, int tokens, int k, int dim, float* out,
                     cudaStream_t stream);

}  // namespace atom::cuda::moe
