// 16-byte vectors of eight bf16 values and their conversion to and from f32, and the streaming
// 16-byte load, for the memory-bound kernels (embedding, RMSNorm, RoPE, GEMV, MoE). Device code
// only; include from .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace atom::cuda {

// Eight bf16 values in one 16-byte word (one LDG.128 / STG.128).
struct alignas(16) Bf16x8 {
  __nv_bfloat162 pair[4];
};

// True when `p` may be read or written with 16-byte accesses.
__host__ __device__ inline bool Aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// 16 bytes of data read once (weights streamed by a GEMV or GEMM): not kept in L1.
__device__ __forceinline__ uint4 LoadStreaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Loads eight bf16 values through the read-only path and widens them to f32.
__device__ __forceinline__ void LoadBf16x8(const __nv_bfloat16* src, float (&out)[8]) {
  const uint4 raw = __ldg(reinterpret_cast<const uint4*>(src));
  Bf16x8 v;
  *reinterpret_cast<uint4*>(&v) = raw;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(v.pair[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// Rounds eight f32 values to bf16 (nearest even) and stores them as one 16-byte word.
__device__ __forceinline__ void StoreBf16x8(__nv_bfloat16* dst, const float (&in)[8]) {
  Bf16x8 v;
#pragma unroll
  for (int i = 0; i < 4; ++i) v.pair[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(&v);
}

}  // namespace atom::cuda
