// Device helpers shared by the MoE kernels: the tensor-core mma, cp.async, the clamped SwiGLU.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace atom::cuda::moe {

// c += A·B for one m16n8k16 tile: A bf16 16×16 (a0..a3, row-major fragment), B bf16 16×8
// (b0, b1, column fragment), c f32 16×8. sm_80+.
__device__ __forceinline__ void MmaBf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16 bytes global → shared, asynchronously; src_bytes < 16 zero-fills the rest (0: all zeros,
// `src` not read).
__device__ __forceinline__ void CpAsync16(void* dst, const void* src, int src_bytes) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src),
               "r"(src_bytes));
}
// 4 bytes global → shared, asynchronously (through L1).
__device__ __forceinline__ void CpAsync4(void* dst, const void* src) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(s), "l"(src));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n"); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ uint32_t Word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// a = g·sigmoid(alpha·g)·(u + 1) with g = min(gate, limit), u = clamp(up, −limit, limit)
// (spec §4.7).
__device__ __forceinline__ float SwiGlu(float gate, float up, float limit, float alpha) {
  const float g = fminf(gate, limit);
  const float u = fminf(fmaxf(up, -limit), limit);
  return g / (1.0f + __expf(-alpha * g)) * (u + 1.0f);
}

__device__ __forceinline__ uint32_t PackBf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  __builtin_memcpy(&r, &v, 4);
  return r;
}

}  // namespace atom::cuda::moe
