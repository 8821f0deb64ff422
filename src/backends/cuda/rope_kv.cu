#include <cuda_fp8.h>

#include "backends/cuda/bf16_vector.cuh"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/rope_kv.h"

namespace atom::cuda {
namespace {

constexpr int kThreads = 128;

// Stores eight f32 values into a cache row: bf16, or fp8 e4m3 of value / scale.
struct Bf16Cache {
  __nv_bfloat16* data;
  __device__ void Store(int64_t offset, const float (&v)[8], float /*scale*/) const {
    StoreBf16x8(data + offset, v);
  }
};
struct Fp8Cache {
  uint8_t* data;
  __device__ void Store(int64_t offset, const float (&v)[8], float scale) const {
    uint16_t packed[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 q = make_float2(__fdiv_rn(v[2 * i], scale), __fdiv_rn(v[2 * i + 1], scale));
      packed[i] = __nv_cvt_float2_to_fp8x2(q, __NV_SATFINITE, __NV_E4M3);
    }
    *reinterpret_cast<uint2*>(data + offset) = *reinterpret_cast<const uint2*>(packed);
  }
};

// grid (T, blocks per token). Work unit u of a token: for u < (Hq + Hkv) d/16, eight rotation
// pairs (elements i0..i0+7 and i0+d/2..i0+d/2+7) of one q or k head; after those, eight
// elements of the v heads. Each block first computes the token's d/2 (cos, sin) into shared
// memory, shared by all heads.
template <typename Cache>
__global__ void __launch_bounds__(kThreads)
    RopeWriteKvKernel(const __nv_bfloat16* __restrict__ qkv, const int32_t* __restrict__ positions,
                      const int64_t* __restrict__ slot_mapping, const float* __restrict__ inv_freq,
                      float attention_scale, RopeKvShape shape, __nv_bfloat16* __restrict__ q_out,
                      Cache key_cache, Cache value_cache, const float* __restrict__ k_scale,
                      const float* __restrict__ v_scale) {
  extern __shared__ float cos_sin[];  // cos [d/2], then sin [d/2], both times m
  const int64_t t = blockIdx.x;
  const int d = shape.head_dim, half = d / 2, hq = shape.num_q_heads, hkv = shape.num_kv_heads;
  const float p = float(positions[t]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float s, c;
    sincosf(__fmul_rn(p, inv_freq[i]), &s, &c);  // one f32 multiply, as ops::RopeFn
    cos_sin[i] = __fmul_rn(c, attention_scale);
    cos_sin[half + i] = __fmul_rn(s, attention_scale);
  }
  __syncthreads();

  const int64_t slot = slot_mapping[t];
  const bool store_kv = slot >= 0 && slot < shape.num_slots;
  const int units_per_head = half / 8;
  const int rope_units = (hq + hkv) * units_per_head;
  const int units = rope_units + hkv * d / 8;
  const __nv_bfloat16* row = qkv + t * int64_t(hq + 2 * hkv) * d;
  const int64_t cache_row = slot * int64_t(hkv) * d;
  for (int u = blockIdx.y * blockDim.x + threadIdx.x; u < units; u += gridDim.y * blockDim.x) {
    if (u < rope_units) {
      const int head = u / units_per_head, i0 = (u % units_per_head) * 8;
      if (head >= hq && !store_kv) continue;
      float x1[8], x2[8], y1[8], y2[8];
      LoadBf16x8(row + head * d + i0, x1);
      LoadBf16x8(row + head * d + half + i0, x2);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float c = cos_sin[i0 + j], s = cos_sin[half + i0 + j];
        y1[j] = x1[j] * c - x2[j] * s;
        y2[j] = x2[j] * c + x1[j] * s;
      }
      if (head < hq) {
        __nv_bfloat16* dst = q_out + (t * hq + head) * d + i0;
        StoreBf16x8(dst, y1);
        StoreBf16x8(dst + half, y2);
      } else {
        const float scale = k_scale ? *k_scale : 1.0f;
        const int64_t offset = cache_row + (head - hq) * d + i0;
        key_cache.Store(offset, y1, scale);
        key_cache.Store(offset + half, y2, scale);
      }
    } else if (store_kv) {
      const int e = (u - rope_units) * 8;  // element within the token's v heads
      float v[8];
      LoadBf16x8(row + (hq + hkv) * d + e, v);
      value_cache.Store(cache_row + e, v, v_scale ? *v_scale : 1.0f);
    }
  }
}

Status CheckArguments(const __nv_bfloat16* qkv, const int32_t* positions,
                      const int64_t* slot_mapping, const float* inv_freq, const RopeKvShape& shape,
                      const __nv_bfloat16* q_out, const void* key_cache, const void* value_cache) {
  if (shape.num_tokens < 0 || shape.num_tokens > INT32_MAX)
    return InvalidArgument("rope_kv: num_tokens {} out of range", shape.num_tokens);
  if (shape.head_dim <= 0 || shape.head_dim % 16 != 0 || shape.head_dim > 1024)
    return InvalidArgument("rope_kv: head_dim {} must be a multiple of 16 in [16, 1024]",
                           shape.head_dim);
  if (shape.num_q_heads <= 0 || shape.num_kv_heads <= 0 ||
      int64_t(shape.num_q_heads + 2 * shape.num_kv_heads) * shape.head_dim > (1 << 24))
    return InvalidArgument("rope_kv: num_q_heads {} / num_kv_heads {} out of range",
                           shape.num_q_heads, shape.num_kv_heads);
  if (shape.num_slots < 0) return InvalidArgument("rope_kv: num_slots {} < 0", shape.num_slots);
  if (!qkv || !positions || !slot_mapping || !inv_freq || !q_out ||
      (shape.num_slots > 0 && (!key_cache || !value_cache)))
    return InvalidArgument(
        "rope_kv: a null pointer among qkv, positions, slot_mapping, "
        "inv_freq, q_out, key_cache, value_cache");
  if (!Aligned16(qkv) || !Aligned16(q_out))
    return InvalidArgument("rope_kv: qkv and q_out must be 16-byte aligned");
  return OkStatus();
}

template <typename Cache>
Status Launch(const __nv_bfloat16* qkv, const int32_t* positions, const int64_t* slot_mapping,
              const float* inv_freq, float attention_scale, const RopeKvShape& shape,
              __nv_bfloat16* q_out, Cache key_cache, Cache value_cache, const float* k_scale,
              const float* v_scale, cudaStream_t stream) {
  if (shape.num_tokens == 0) return OkStatus();
  const int units = (shape.num_q_heads + shape.num_kv_heads) * shape.head_dim / 16 +
                    shape.num_kv_heads * shape.head_dim / 8;
  const dim3 grid(unsigned(shape.num_tokens), unsigned((units + kThreads - 1) / kThreads));
  const size_t smem = size_t(shape.head_dim) * sizeof(float);
  RopeWriteKvKernel<Cache>
      <<<grid, kThreads, smem, stream>>>(qkv, positions, slot_mapping, inv_freq, attention_scale,
                                         shape, q_out, key_cache, value_cache, k_scale, v_scale);
  return LastLaunchStatus("RopeWriteKvKernel");
}

}  // namespace

Status RopeWriteKvBf16(const __nv_bfloat16* qkv, const int32_t* positions,
                       const int64_t* slot_mapping, const float* inv_freq, float attention_scale,
                       const RopeKvShape& shape, __nv_bfloat16* q_out, __nv_bfloat16* key_cache,
                       __nv_bfloat16* value_cache, cudaStream_t stream) {
  ATOM_RETURN_IF_ERROR(
      CheckArguments(qkv, positions, slot_mapping, inv_freq, shape, q_out, key_cache, value_cache));
  if (!Aligned16(key_cache) || !Aligned16(value_cache))
    return InvalidArgument("rope_kv: bf16 key_cache and value_cache must be 16-byte aligned");
  return Launch(qkv, positions, slot_mapping, inv_freq, attention_scale, shape, q_out,
                Bf16Cache{key_cache}, Bf16Cache{value_cache}, nullptr, nullptr, stream);
}

Status RopeWriteKvFp8(const __nv_bfloat16* qkv, const int32_t* positions,
                      const int64_t* slot_mapping, const float* inv_freq, float attention_scale,
                      const RopeKvShape& shape, __nv_bfloat16* q_out, uint8_t* key_cache,
                      uint8_t* value_cache, const float* k_scale, const float* v_scale,
                      cudaStream_t stream) {
  ATOM_RETURN_IF_ERROR(
      CheckArguments(qkv, positions, slot_mapping, inv_freq, shape, q_out, key_cache, value_cache));
  if (reinterpret_cast<uintptr_t>(key_cache) % 8 != 0 ||
      reinterpret_cast<uintptr_t>(value_cache) % 8 != 0)
    return InvalidArgument("rope_kv: fp8 key_cache and value_cache must be 8-byte aligned");
  if (k_scale == nullptr || v_scale == nullptr)
    return InvalidArgument("rope_kv: fp8 cache needs k_scale and v_scale");
  return Launch(qkv, positions, slot_mapping, inv_freq, attention_scale, shape, q_out,
                Fp8Cache{key_cache}, Fp8Cache{value_cache}, k_scale, v_scale, stream);
}

}  // namespace atom::cuda
