// The gpt-oss mixture-of-experts block on the GPU: ops::MoeExpertsFn (src/ops/op_signatures.h,
// spec §4.7) over experts kept on the device in MXFP4 (spec §3.5, re-laid out once at load by
// moe_experts_upload.h) or in the bf16 checkpoint layout.
//
// LaunchMoeExperts computes, for every token t < T,
//   out[t] = Σ_{i=0..k-1} weights[t,i] · expert_{indices[t,i]}(x[t])     (summed in slot order)
//   expert_e(x) = W2_e a + b2_e,  a = g·sigmoid(alpha·g)·(u + 1),
//   g = min(y[2j], limit), u = clamp(y[2j+1], −limit, limit),  y = W1_e x + b1_e,
// like ops::MoeExpertsFn, except for the dtypes: x is bf16 [T, D] (the CPU op takes f32),
// indices i32 [T, k] and weights f32 [T, k] live on the device (the router's output), out is f32
// [T, D] and is overwritten (the caller adds it to the residual). Accumulation is f32; with
// MXFP4 experts the SwiGLU activation a is rounded to bf16 before W2 (tensor-core input), the
// one rounding step the CPU op does not have. Within one variant each output row depends only
// on its own token's inputs, never on the rest of the batch; the variants sum in different
// orders, so a token's output can change in the last f32 bits when T changes the variant.
//
// Steps (all on `stream`, no host synchronisation, capturable in a CUDA graph):
//   1. routing: a counting sort of the T·k (token, slot) pairs by expert (moe_routing.cu);
//   2. W1 per expert over its pairs, bias and clamped SwiGLU fused → bf16 activations [T·k, I];
//   3. W2 likewise, + bias → f32 per pair [T·k, D];
//   4. combine in slot order (moe_combine.cu), unless out is null: then the per-pair outputs stay
//      in the workspace (MoePairOutputs) for a consumer that combines them itself
//      (FusedCombineAddRmsNorm, rms_norm.h, which saves the decode step a launch per layer).
// Steps 2-3 come in variants (MoeVariant). Grids are sized for the worst case of the host-known
// T, so nothing depends on the routing the host cannot see.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "core/status.h"

namespace atom::cuda {

enum class MoeExpertFormat { kMxfp4, kBf16 };

// A view of one MoE layer's experts in device memory (owned by MoeExpertsOnDevice).
struct MoeDeviceExperts {
  MoeExpertFormat format = MoeExpertFormat::kMxfp4;
  int num_experts = 0;   // E
  int hidden = 0;        // D
  int intermediate = 0;  // I
  float swiglu_limit = 7.0f;
  float swiglu_alpha = 1.702f;
  // kMxfp4, in the layout of moe_mxfp4_layout.cuh (W1 rows paired gate/up by 8-row tiles).
  // wide_scales: some scale byte exceeds 128, so kernels decode with two exact multiplies.
  bool wide_scales = false;
  const uint32_t* gate_up_codes = nullptr;
  const uint8_t* gate_up_scales = nullptr;
  const uint32_t* down_codes = nullptr;
  const uint8_t* down_scales = nullptr;
  // kBf16, as in the checkpoint (Hugging Face [in, out]): gate_up [E, D, 2I], down [E, I, D].
  const __nv_bfloat16* gate_up = nullptr;
  const __nv_bfloat16* down = nullptr;
  // Both formats, as in the checkpoint: gate_up_bias [E, 2I] (interleaved), down_bias [E, D].
  const __nv_bfloat16* gate_up_bias = nullptr;
  const __nv_bfloat16* down_bias = nullptr;
};

// How steps 2-3 run.
//   kDecode:    a persistent grid over (active expert, 16-row block) items; each CTA stages an
//               item's 4-bit weights in shared memory (3-stage cp.async pipeline) and its 8 warps
//               split K, weights as the mma A operand, tokens as N = 8 per mma; each routed
//               expert's weights are read once. For few tokens per expert (MXFP4, D and
//               I <= 4096).
//   kStream:    the same items, one warp each (K split over 2-4 warps when items are few),
//               weights loaded straight into registers 4 quads ahead: more bytes in flight per
//               SM, no per-item barrier (moe_stream.cu). For few tokens per expert (MXFP4).
//   kStreamTma: kStream's work split with the weights brought into per-warp shared memory by
//               bulk copies (TMA) completing on mbarriers (moe_stream_tma.cu). sm_90a code only:
//               Unimplemented elsewhere (ops/cuda_kernel_selection.h picks it only there).
//   kTiled64 / kTiled128: grouped GEMM, CTA tile BM pairs × 128 weight rows × 128 K, 3-stage
//               cp.async pipeline, MXFP4 decoded in registers, mma.sync m16n8k16 bf16 → f32
//               (sm_80+); for prefill (MXFP4).
//   kBf16Simple: one CTA per (token, slot), f32 CUDA-core dots over the bf16 [in, out]
//               checkpoint layout: correct, not fast (bf16 experts only).
enum class MoeVariant { kAuto, kDecode, kStream, kStreamTma, kTiled64, kTiled128, kBf16Simple };

const char* MoeVariantName(MoeVariant variant);

// Whether `variant` can run these experts (kAuto always can).
bool MoeSupports(MoeVariant variant, const MoeDeviceExperts& experts);

// The variant for a step: kBf16Simple for bf16 experts; for MXFP4, with m = T·k/E the mean
// pairs per expert, `few_tokens` (kStreamTma, kStream or kDecode) while m <=
// kMoeDecodeMaxRowsPerExpert, else kTiled64 while m < kMoeTiled128MinRowsPerExpert, else kTiled128.
// Measured on an H200 (bench/RESULTS.md): decode wins at m = 8 (E = 32, T = 64; E = 128, T = 256),
// tiled64 at m = 16 (E = 32, T = 128) and beyond; tiled64 beats tiled128 at m <= 128, tiled128 wins
// at m = 1024. On an H100 stream beats decode at every T measured (1, 8, 64).
inline constexpr int kMoeDecodeMaxRowsPerExpert = 12;
inline constexpr int kMoeTiled128MinRowsPerExpert = 512;
MoeVariant SelectMoeVariant(const MoeDeviceExperts& experts, int tokens, int k,
                            MoeVariant few_tokens = MoeVariant::kStream);

size_t MoeWorkspaceBytes(int tokens, int k, int num_experts, int hidden, int intermediate);

// See the file comment. x bf16 [tokens, D]; indices i32 [tokens, k] (REQUIRES: each in [0, E));
// weights f32 [tokens, k]; out f32 [tokens, D], not aliasing the inputs, or null (no combine);
// x 16-byte aligned.
// workspace: at least MoeWorkspaceBytes(tokens, ...) bytes, 256-byte aligned. Host cost: a few
// kernel launches and attribute queries; no allocation, copy or synchronisation.
Status LaunchMoeExperts(const MoeDeviceExperts& experts, const __nv_bfloat16* x, int tokens,
                        const int32_t* indices, const float* weights, int k, float* out,
                        void* workspace, size_t workspace_bytes, cudaStream_t stream,
                        MoeVariant variant = MoeVariant::kAuto);

// LaunchMoeExperts after the router's top-k + softmax (RouterTopK, router.h) over router_logits
// f32 [tokens, E], whose result it writes to indices i32 and weights f32 [tokens, k] (device) on
// the way. With MXFP4 experts and at most kMoeFusedRouterMaxTokens tokens (one per warp of the
// routing step's CTA) the top-k runs inside that CTA, one launch fewer per layer for decode; else
// as RouterTopK's own kernel. The same indices and weights either way.
// REQUIRES E <= kRouterMaxExperts, k <= kRouterMaxTopK.
inline constexpr int kMoeFusedRouterMaxTokens = 32;
Status LaunchMoeExpertsFromLogits(const MoeDeviceExperts& experts, const __nv_bfloat16* x,
                                  int tokens, const float* router_logits, int k, int32_t* indices,
                                  float* weights, float* out, void* workspace,
                                  size_t workspace_bytes, cudaStream_t stream,
                                  MoeVariant variant = MoeVariant::kAuto);

// Where LaunchMoeExperts leaves the per-pair outputs in `workspace`: f32 [tokens·k, D], row
// t·k + slot = expert_{indices[t, slot]}(x[t]) (bias included, not weighted).
const float* MoePairOutputs(const void* workspace, int tokens, int k, int num_experts, int hidden,
                            int intermediate);

}  // namespace atom::cuda
