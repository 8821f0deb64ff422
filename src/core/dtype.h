// Element types and their exact conversions to and from float.
//
// Packed types: kFP4E2M1 stores two elements per byte, element 2j in the LOW nibble and element
// 2j+1 in the HIGH nibble (spec §3.5). kE8M0 is the unsigned power-of-two scale of MX formats.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace atom {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,   // OCP e4m3fn: no infinities, 0x7F/0xFF are NaN, max finite 448
  kE8M0,     // 2^(bits - 127); 0xFF is NaN
  kFP4E2M1,  // packed, two per byte
  kU8,
  kI8,
  kI32,
  kI64,
};

// Bits one element occupies in memory (4 for kFP4E2M1).
int DTypeBits(DType t);
// Human name, e.g. "bf16", "fp4_e2m1".
std::string_view DTypeName(DType t);
// Bytes that `count` elements occupy; nullopt when count is not a whole number of bytes
// (an odd count of packed fp4) or overflows.
std::optional<uint64_t> DTypeBytes(DType t, uint64_t count);

// ---- bf16 -------------------------------------------------------------------------------------
inline float Bf16ToFloat(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }
// Round to nearest even, as PyTorch does; NaN stays a quiet NaN with its sign.
inline uint16_t FloatToBf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((bits >> 16) | 0x0040u);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

// ---- f16 (IEEE binary16) ----------------------------------------------------------------------
float F16ToFloat(uint16_t h);
uint16_t FloatToF16(float f);  // round to nearest even; overflow to inf; NaN stays NaN

// ---- fp8 e4m3fn -------------------------------------------------------------------------------
float Fp8E4M3ToFloat(uint8_t v);
// Round to nearest even. Values beyond ±448 (and infinities) saturate to ±448; NaN gives 0x7F.
uint8_t FloatToFp8E4M3(float f);

// ---- e8m0 -------------------------------------------------------------------------------------
inline float E8M0ToFloat(uint8_t s) {
  if (s == 0xFF) return std::nanf("");
  return std::ldexp(1.0f, int(s) - 127);
}
// The scale 2^floor(log2 |f|) for finite non-zero f, clamped to the format's range
// (2^-127 .. 2^127); zero maps to 0x00, NaN and infinity to 0xFF. Exact for powers of two.
uint8_t FloatToE8M0(float f);

// ---- fp4 e2m1 ---------------------------------------------------------------------------------
// Value of a 4-bit code (bit 3 = sign): 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives.
inline constexpr float kFp4E2M1Values[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f,
                                             +4.0f, +6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                             -2.0f, -3.0f, -4.0f, -6.0f};
inline float Fp4E2M1ToFloat(uint8_t code) { return kFp4E2M1Values[code & 0xF]; }
// Nearest code, ties to the even code; saturates at ±6; NaN gives +0.
uint8_t FloatToFp4E2M1(float f);

// ---- MXFP4 blocks -----------------------------------------------------------------------------
// One MXFP4 block is 32 elements: 16 bytes of packed e2m1 codes plus one e8m0 scale.
inline constexpr int kMxfp4BlockElems = 32;
inline constexpr int kMxfp4BlockBytes = 16;

// Writes the 32 values of one block: out[j] = FP4[code j] * 2^(scale - 127), where code 2i is the
// low nibble of codes[i] and code 2i+1 its high nibble. Exact (every product is a float).
inline void DequantizeMxfp4Block(const uint8_t* codes, uint8_t scale, float* out) {
  const float s = std::ldexp(1.0f, int(scale) - 127);
  for (int i = 0; i < kMxfp4BlockBytes; ++i) {
    out[2 * i] = kFp4E2M1Values[codes[i] & 0xF] * s;
    out[2 * i + 1] = kFp4E2M1Values[codes[i] >> 4] * s;
  }
}

}  // namespace atom
