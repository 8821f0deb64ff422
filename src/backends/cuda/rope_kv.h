// RoPE (YaRN table) on q and k, plus the paged KV-cache write, in one pass over the fused qkv
// projection: ops::RopeFn on q and k followed by ops::WriteKvFn (src/ops/op_signatures.h), on
// bf16 activations, with a bf16 or fp8 e4m3 cache. One portable variant (sm_80 and later).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

struct RopeKvShape {
  int64_t num_tokens = 0;  // T
  int num_q_heads = 0;     // Hq
  int num_kv_heads = 0;    // Hkv
  int head_dim = 0;        // d; REQUIRES d % 16 == 0 and d <= 1024
  int64_t num_slots = 0;   // num_blocks * block_size of the cache
};

// For each token t < T, with p = positions[t] and, for i < d/2,
//   a = float(p) * inv_freq[i] (one f32 multiply), c = cosf(a) * m, s = sinf(a) * m  (m =
//   attention_scale), the half-split (NeoX) rotation of ops::RopeFn:
//   x'[i] = x[i] c - x[i + d/2] s,  x'[i + d/2] = x[i + d/2] c + x[i] s   (in f32)
// is applied to the Hq query heads and the Hkv key heads of qkv[t]; then
//   q_out[t, h] = bf16(rotated q head h)
//   and, unless slot = slot_mapping[t] is negative (padding) or >= num_slots (not stored):
//   key_cache[slot, h] = rotated k head h, value_cache[slot, h] = v head h   (ops::WriteKvFn).
// qkv: bf16 [T, (Hq + 2 Hkv) d], q heads then k heads then v heads (the q, k and v projections
// concatenated by output rows); positions: i32 [T]; slot_mapping: i64 [T]; inv_freq: f32 [d/2]
// (ops::RopeTable::inv_freq, on the device); q_out: bf16 [T, Hq, d]; caches
// [num_blocks, block_size, Hkv, d], so slot s is row s of [num_slots, Hkv, d]. All device memory,
// 16-byte aligned. Differs from RopeFn + WriteKvFn only in dtypes: bf16 in, f32 math, one
// rounding at the store (bf16 round to nearest even; fp8 below).
// No allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument (shape limits, null or misaligned pointers).
Status RopeWriteKvBf16(const __nv_bfloat16* qkv, const int32_t* positions,
                       const int64_t* slot_mapping, const float* inv_freq, float attention_scale,
                       const RopeKvShape& shape, __nv_bfloat16* q_out, __nv_bfloat16* key_cache,
                       __nv_bfloat16* value_cache, cudaStream_t stream);

// As RopeWriteKvBf16, but the caches hold fp8 e4m3fn bytes (DType::kF8E4M3, the
// --kv-cache-dtype fp8 layout): stored = e4m3(value / scale), the division in f32, round to
// nearest even, saturating to ±448 (NaN stays NaN). k_scale and v_scale point to one f32 each
// (the layer's scales, device memory, read at run time so a captured graph sees updated scales);
// a reader dequantises with value ≈ stored · scale. The caches need only 8-byte alignment.
Status RopeWriteKvFp8(const __nv_bfloat16* qkv, const int32_t* positions,
                      const int64_t* slot_mapping, const float* inv_freq, float attention_scale,
                      const RopeKvShape& shape, __nv_bfloat16* q_out, uint8_t* key_cache,
                      uint8_t* value_cache, const float* k_scale, const float* v_scale,
                      cudaStream_t stream);

}  // namespace atom::cuda
