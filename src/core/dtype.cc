#include "core/dtype.h"

#include <limits>

namespace atom {

int DTypeBits(DType t) {
  switch (t) {
    case DType::kF32: return 32;
    case DType::kF16: return 16;
    case DType::kBF16: return 16;
    case DType::kF8E4M3: return 8;
    case DType::kE8M0: return 8;
    case DType::kFP4E2M1: return 4;
    case DType::kU8: return 8;
    case DType::kI8: return 8;
    case DType::kI32: return 32;
    case DType::kI64: return 64;
  }
  return 0;
}

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kF8E4M3: return "fp8_e4m3";
    case DType::kE8M0: return "e8m0";
    case DType::kFP4E2M1: return "fp4_e2m1";
    case DType::kU8: return "u8";
    case DType::kI8: return "i8";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
  }
  return "?";
}

std::optional<uint64_t> DTypeBytes(DType t, uint64_t count) {
  const uint64_t bits = uint64_t(DTypeBits(t));
  if (count > std::numeric_limits<uint64_t>::max() / bits) return std::nullopt;
  if ((count * bits) % 8 != 0) return std::nullopt;
  return count * bits / 8;
}

// ---- f16 --------------------------------------------------------------------------------------
float F16ToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t man = h & 0x3FF;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (man << 13));  // inf/NaN
  if (exp == 0) {  // zero or subnormal: man * 2^-24, exact in float
    const float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
}

// Rounds the float `f` to nearest-even with `man_bits` mantissa bits, exponent bias `bias` and
// minimum normal exponent `emin`; returns sign-free (exponent field, mantissa field) packed as
// (e << man_bits) | m, where an exponent field past `emax_field` means overflow.
static uint32_t RoundToSmallFloat(float a, int man_bits, int bias) {
  // a is finite and > 0.
  int e2;
  std::frexp(a, &e2);  // a = f * 2^e2, f in [0.5, 1)
  int e = e2 - 1;      // a = 1.xxx * 2^e
  const int emin = 1 - bias;
  // Quantum of the representable grid at a's magnitude (subnormals share emin's quantum).
  const int q_exp = (e < emin ? emin : e) - man_bits;
  const double scaled = std::ldexp(double(a), -q_exp);  // exact: a has 24 significant bits
  double n = std::nearbyint(scaled);                      // ties to even under FE_TONEAREST
  // Re-normalise if rounding carried into the next binade.
  uint64_t units = uint64_t(n);
  int qe = q_exp;
  if (units >= (uint64_t(2) << man_bits)) { units >>= 1; ++qe; }
  if (units < (uint64_t(1) << man_bits)) return uint32_t(units);  // subnormal (field 0) or zero
  const int exp_field = qe + man_bits + bias;
  return (uint32_t(exp_field) << man_bits) | uint32_t(units & ((1u << man_bits) - 1));
}

uint16_t FloatToF16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  if (std::isnan(f)) return sign | 0x7E00u;
  const float a = std::fabs(f);
  if (std::isinf(a)) return sign | 0x7C00u;
  if (a == 0.0f) return sign;
  if (a >= 65520.0f) return sign | 0x7C00u;  // rounds past the largest finite (65504)
  return sign | uint16_t(RoundToSmallFloat(a, 10, 15));
}

// ---- fp8 e4m3fn -------------------------------------------------------------------------------
float Fp8E4M3ToFloat(uint8_t v) {
  const bool neg = v & 0x80;
  const int exp = (v >> 3) & 0xF;
  const int man = v & 0x7;
  float r;
  if (exp == 0xF && man == 0x7) return std::nanf("");
  if (exp == 0) r = std::ldexp(float(man), -9);  // subnormal: man/8 * 2^-6
  else r = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
  return neg ? -r : r;
}

uint8_t FloatToFp8E4M3(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (a == 0.0f) return sign;
  if (a >= 448.0f) return sign | 0x7E;  // saturate (also infinities)
  return sign | uint8_t(RoundToSmallFloat(a, 3, 7));
}

// ---- e8m0 -------------------------------------------------------------------------------------
uint8_t FloatToE8M0(float f) {
  if (std::isnan(f) || std::isinf(f)) return 0xFF;
  const float a = std::fabs(f);
  if (a == 0.0f) return 0x00;
  int e2;
  std::frexp(a, &e2);
  int e = e2 - 1;  // floor(log2 a)
  if (e < -127) e = -127;
  if (e > 127) e = 127;
  return uint8_t(e + 127);
}

// ---- fp4 e2m1 ---------------------------------------------------------------------------------
uint8_t FloatToFp4E2M1(float f) {
  if (std::isnan(f)) return 0;
  const uint8_t sign = std::signbit(f) ? 0x8 : 0x0;
  const float a = std::fabs(f);
  // At and beyond the largest magnitude, saturate. (Needed for correctness, not just speed: for
  // huge a or inf every distance below is equal, and the tie rule would pick code 6 = 4.0.)
  if (a >= 6.0f) return sign | 0x7;
  // Representable magnitudes with codes 0..7; pick the nearest, ties to the even code.
  uint8_t best = 0;
  for (uint8_t c = 1; c < 8; ++c) {
    const float d_best = std::fabs(a - kFp4E2M1Values[best]);
    const float d = std::fabs(a - kFp4E2M1Values[c]);
    if (d < d_best || (d == d_best && (c & 1) == 0)) best = c;
  }
  return sign | best;
}

}  // namespace atom
