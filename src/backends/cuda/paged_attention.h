// Paged attention on the GPU: the CUDA form of ops::PagedAttentionFn (ops/op_signatures.h).
//
// Same math as the CPU contract: causal attention of every query token over its sequence's cached
// keys, read through the block table; GQA (query head h uses KV head h / (Hq / Hkv)); an optional
// learned sink logit per query head that joins the softmax denominator only; an optional sliding
// window W (a query at position p sees keys j with p - W < j <= p):
//   z_j = scale · q·k_j over visible j;  M = max(sink, max z);
//   out = Σ_j exp(z_j − M) v_j / (exp(sink − M) + Σ_j exp(z_j − M)).
// Visibility is decided by positions[] alone, as on the CPU (seq_lens is not read).
//
// Differences from the CPU contract (dtypes and memory only):
//   q, out:                   bf16 [T, Hq, d]   (CPU: f32); out is rounded once from f32 math
//   key_cache, value_cache:   [num_blocks, block_size, Hkv, d] of bf16, or of fp8 e4m3fn with a
//                             per-layer (k_scale, v_scale): value = stored · scale   (CPU: f32)
//   sinks:                    f32 [Hq] on the device, or null   (CPU: bf16 host tensor)
//   metadata arrays:          device pointers (fixed buffers: a decode step can be graph-captured)
// Softmax probabilities are rounded to bf16 before the P·V product (tensor-core inputs), so
// results match the f32 reference to about 1e-3..1e-2 relative (bf16 output). An fp8 cache is read
// exactly (every e4m3 value is a bf16 value) and its scales are applied in f32 outside the tensor
// cores (k_scale with the score scale, v_scale with the output normalisation), so against the
// reference fed the dequantised values the error is the bf16 path's; the quantisation error
// itself is the writer's (RopeWriteKvFp8).
//
// Variants (all portable, sm_80+, mma.sync m16n8k16 bf16 with f32 accumulation; each for a bf16
// or an fp8 cache, whose 64-key tiles are staged as stored — half the bytes — and converted to
// bf16 in shared memory before the MMAs):
//   kDecodeSplitKv: sequences with one query token. One CTA per (split, KV head, sequence) takes
//     the `group` = Hq / Hkv query heads of that KV head together (K and V are read once for
//     them), four warps share each 64-key tile; a long context is cut into `num_splits` ranges
//     (flash-decoding) whose partial (max, sum, output) a second kernel combines, with the sink.
//   kPrefillMma: any batch (prefill chunks, decodes, both). One CTA per (query tile, sequence,
//     KV head); its rows are (token, head-in-group) pairs, 64 or 128 of them, against 64-key
//     tiles with an online softmax (flash-attention 2 style), no split.
//   kMixed: a batch with both: kPrefillMma for sequences of two or more query tokens plus
//     kDecodeSplitKv (and its combine) for those of one; the two launches skip each other's.
// Sliding-window layers start each CTA's key loop at the window's first key, so their cost is
// proportional to the window, not the context.
//
// Limits (InvalidArgument otherwise): head_dim 64 or 128; cache dtype bf16 or fp8 e4m3 (fp8 with
// both scale pointers); Hq % Hkv == 0; block_size >= 1 (any value: pages are addressed per key
// row); q, caches and out 16-byte aligned; num_seqs <= 65535; 1..256 splits. kDecodeSplitKv needs
// group <= 16 (else kPrefillMma serves decodes too); kPrefillMma needs group <= 64. No Hopper-only
// (wgmma/TMA) variant yet: sm_90 runs these.
//
// The launchers do no host synchronisation and no allocation: they can be captured in a CUDA
// graph. Split-KV scratch comes from the caller (PagedAttentionPlan::workspace_bytes). Grids
// depend only on the plan (host ints and hints), never on device-side lengths, so a plan made for
// the largest batch of a graph bucket stays valid for every step replayed with it.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/device_info.h"
#include "core/status.h"

namespace atom::cuda {

enum class PagedAttentionVariant { kDecodeSplitKv, kPrefillMma, kMixed };

// The KV cache's element type (DType::kBF16 / kF8E4M3; core/dtype.h is C++20, this header is
// also CUDA C++17).
enum class PagedKvDType { kBf16, kFp8E4M3 };

// "decode_split_kv", "prefill_mma", "mixed": for logs.
const char* PagedAttentionVariantName(PagedAttentionVariant variant);

// What the host knows about a step before launching it.
struct PagedAttentionShape {
  int num_seqs = 0;
  int num_tokens = 0;
  int num_q_heads = 0;   // Hq
  int num_kv_heads = 0;  // Hkv
  int head_dim = 0;      // d
  int block_size = 0;
  int max_blocks_per_seq = 0;
  int sliding_window = 0;                          // > 0: window W; 0: full causal
  PagedKvDType cache_dtype = PagedKvDType::kBf16;  // of key_cache and value_cache
  // Scheduler hints: the longest query (tokens of one sequence in this step) and the longest
  // context (seq_len) in the batch; a graph bucket's maxima are fine. max_query_len must be an
  // upper bound (it sizes the prefill grid; 0 means num_tokens), and max_query_len == 1 promises
  // every sequence has exactly one query token. max_seq_len only picks the number of KV splits
  // (0 means max_blocks_per_seq · block_size); any value is correct.
  int max_query_len = 0;
  int max_seq_len = 0;
};

struct PagedAttentionPlan {
  PagedAttentionVariant variant = PagedAttentionVariant::kPrefillMma;
  int num_splits = 1;          // KV ranges per decode sequence (kDecodeSplitKv, kMixed)
  size_t workspace_bytes = 0;  // scratch the launch needs (0 when num_splits == 1)
  PagedAttentionShape shape;
  int decode_stages = 0;   // cp.async pipeline depths picked for the device's shared memory
  int prefill_stages = 0;  // (0: that kernel is not used)
};

// True when `variant` can run `shape` on a device of compute capability `sm_arch` (e.g. 90).
bool PagedAttentionSupports(PagedAttentionVariant variant, int sm_arch,
                            const PagedAttentionShape& shape);

// Picks the variant and the split count for `shape` on `device` (SM count and shared-memory
// limit queried from the device): decodes only (max_query_len == 1) → kDecodeSplitKv; one
// sequence → kPrefillMma; otherwise kMixed. Splits fill one wave of decode CTAs (occupancy
// queried), each split keeping at least 256 keys. InvalidArgument names what is unsupported.
// Call it with `device` current: it also raises the chosen kernels' shared-memory limit there
// (a host call, once per plan), so launches themselves make none.
StatusOr<PagedAttentionPlan> PlanPagedAttention(const DeviceInfo& device,
                                                const PagedAttentionShape& shape);

// A plan with a chosen variant and split count (tests and benchmarks); same checks.
StatusOr<PagedAttentionPlan> PlanPagedAttentionWith(const DeviceInfo& device,
                                                    const PagedAttentionShape& shape,
                                                    PagedAttentionVariant variant, int num_splits);

// Scratch bytes for `num_splits` KV ranges: f32 partial outputs [T, Hq, splits, d] and their
// (max, sum) pairs [T, Hq, splits]. Zero when num_splits <= 1.
size_t PagedAttentionWorkspaceBytes(const PagedAttentionShape& shape, int num_splits);

// The device arrays of one step (see ops::AttentionMetadata) and the tensors.
struct PagedAttentionArgs {
  const __nv_bfloat16* q = nullptr;  // [T, Hq, d]
  // [num_blocks, block_size, Hkv, d] of the plan's shape.cache_dtype (bf16 or fp8 e4m3 bytes).
  const void* key_cache = nullptr;
  const void* value_cache = nullptr;
  // fp8 caches only (ignored for bf16): the layer's scales, one f32 each in device memory, read
  // by the kernels at run time (as RopeWriteKvFp8 reads them, so a captured graph follows them).
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  const float* sinks = nullptr;  // [Hq] or null
  __nv_bfloat16* out = nullptr;  // [T, Hq, d]; must not alias q or the caches
  float scale = 1.0f;
  const int32_t* query_start = nullptr;   // [S + 1]
  const int32_t* seq_lens = nullptr;      // [S] (not read; kept for the contract's shape)
  const int32_t* positions = nullptr;     // [T]
  const int32_t* block_tables = nullptr;  // [S, max_blocks_per_seq]
};

// Runs `plan` on `stream`. workspace: at least plan.workspace_bytes of device memory, 16-byte
// aligned (may be null when plan.workspace_bytes == 0).
// REQUIRES (as the CPU contract): for token i of sequence s, keys and values of every position
// <= positions[i] are in the cache; and the plan's hints hold (max_query_len == 1 → one token per
// sequence).
Status PagedAttention(const PagedAttentionArgs& args, const PagedAttentionPlan& plan,
                      void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace atom::cuda
