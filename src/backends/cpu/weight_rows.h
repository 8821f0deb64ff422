// Converting one weight row at a time into f32, so the CPU kernels read checkpoint memory in
// place (bf16 or packed MXFP4) and never expand a whole matrix.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "backends/cpu/simd.h"
#include "core/dtype.h"

namespace atom::cpu {

// dst[i] = bf16 src[i] as f32 (exact).
inline void Bf16RowToF32(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(src[i]);
}

// 2^(s - 127) exactly as DequantizeMxfp4Block computes it with ldexp (s = 0 gives the subnormal
// 2^-127, s = 255 overflows to +inf), without a libm call.
inline float Mxfp4ScaleValue(uint8_t s) {
  if (s == 0) return std::bit_cast<float>(0x00400000u);
  if (s == 255) return std::bit_cast<float>(0x7F800000u);
  return std::bit_cast<float>(uint32_t(s) << 23);
}

// The f32 values of 16 e2m1 codes (0..15): one table lookup per lane (vpermps on AVX-512 with
// GCC's dynamic shuffle; a per-lane loop elsewhere, e.g. under clang for the fuzz build).
inline F32x16 Fp4E2M1ToF32x16(U32x16 code) {
#if defined(__GNUC__) && !defined(__clang__)
  const F32x16 table = {kFp4E2M1Values[0],  kFp4E2M1Values[1],  kFp4E2M1Values[2],
                        kFp4E2M1Values[3],  kFp4E2M1Values[4],  kFp4E2M1Values[5],
                        kFp4E2M1Values[6],  kFp4E2M1Values[7],  kFp4E2M1Values[8],
                        kFp4E2M1Values[9],  kFp4E2M1Values[10], kFp4E2M1Values[11],
                        kFp4E2M1Values[12], kFp4E2M1Values[13], kFp4E2M1Values[14],
                        kFp4E2M1Values[15]};
  return __builtin_shuffle(table, code);
#else
  F32x16 out;
  for (int l = 0; l < kLanes; ++l) out[l] = kFp4E2M1Values[code[l] & 15u];
  return out;
#endif
}

// Dequantizes one MXFP4 row of `groups` blocks (codes: groups * 16 bytes, scales: groups bytes)
// into out[groups * 32]. Bit-identical to DequantizeMxfp4Block applied block by block.
inline void DequantizeMxfp4Row(const uint8_t* codes, const uint8_t* scales, int64_t groups,
                               float* out) {
  for (int64_t g = 0; g < groups; ++g) {
    const float scale = Mxfp4ScaleValue(scales[g]);
    const uint8_t* c = codes + g * kMxfp4BlockBytes;
    U32x16 bytes;
    for (int l = 0; l < kLanes; ++l) bytes[l] = c[l];
    const F32x16 lo = Fp4E2M1ToF32x16(bytes & 15u) * scale;  // elements 0, 2, 4, ...
    const F32x16 hi = Fp4E2M1ToF32x16(bytes >> 4) * scale;   // elements 1, 3, 5, ...
    const F32x16 first = __builtin_shufflevector(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5,
                                                 21, 6, 22, 7, 23);
    const F32x16 second = __builtin_shufflevector(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28,
                                                  13, 29, 14, 30, 15, 31);
    StoreF32x16(out + g * kMxfp4BlockElems, first);
    StoreF32x16(out + g * kMxfp4BlockElems + kLanes, second);
  }
}

// A per-thread f32 scratch buffer of at least n floats; valid until the next call on the same
// thread with the same slot.
inline float* ThreadScratch(int slot, size_t n) {
  thread_local std::vector<float> buffers[4];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace atom::cpu
