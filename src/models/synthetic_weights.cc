#include "models/synthetic_weights.h"

#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/dtype.h"

namespace atom::synthetic {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The i-th random word of a tensor.
inline uint64_t Word(uint64_t key, uint64_t i) { return Mix(key + (i + 1) * kGolden); }

// Approximately N(0, 1): the sum of four 16-bit uniforms, centred and scaled to unit variance
// (bounded at ±3.46, which keeps synthetic activations tame).
inline float Normal(uint64_t w) {
  constexpr float kUnit = 1.0f / 65536.0f;
  const float s = float((w & 0xFFFF) + ((w >> 16) & 0xFFFF) + ((w >> 32) & 0xFFFF) + (w >> 48));
  // Each (u + 0.5) / 65536 is uniform on (0, 1); four of them have mean 2 and variance 1/3.
  return ((s + 2.0f) * kUnit - 2.0f) * 1.7320508f;
}

void FillBf16(const TensorInit& init, uint64_t key, uint64_t first, uint64_t count, uint8_t* out) {
  for (uint64_t i = 0; i < count; ++i) {
    const uint16_t v = FloatToBf16(init.mean + init.std * Normal(Word(key, first + i)));
    std::memcpy(out + 2 * i, &v, 2);
  }
}

// Byte j of the stream is byte (j % 8) of word j / 8.
void FillUniformBytes(uint64_t key, uint64_t begin, uint64_t n, uint8_t* out) {
  uint64_t j = begin;
  const uint64_t end = begin + n;
  while (j < end && j % 8 != 0) {
    *out++ = uint8_t(Word(key, j / 8) >> (8 * (j % 8)));
    ++j;
  }
  for (; j + 8 <= end; j += 8, out += 8) {
    const uint64_t w = Word(key, j / 8);
    std::memcpy(out, &w, 8);  // little-endian: byte k of the word is bits 8k..8k+7
  }
  for (; j < end; ++j) *out++ = uint8_t(Word(key, j / 8) >> (8 * (j % 8)));
}

void FillScales(const TensorInit& init, uint64_t key, uint64_t begin, uint64_t n, uint8_t* out) {
  const Mxfp4ScaleMix mix = ScaleMixFor(init.std);
  const uint64_t threshold = uint64_t(mix.p_high * 18446744073709551616.0);  // p * 2^64
  const uint8_t low = uint8_t(mix.low_exponent + 127);
  for (uint64_t i = 0; i < n; ++i) out[i] = Word(key, begin + i) < threshold ? low + 1 : low;
}

}  // namespace

uint64_t TensorKey(uint64_t seed, std::string_view name) {
  uint64_t h = Mix(seed ^ 0x5EED5EED5EED5EEDull);
  for (unsigned char c : name) h = Mix(h ^ c) + kGolden;
  return h;
}

Mxfp4ScaleMix ScaleMixFor(float std) {
  constexpr double kCodeMeanSquare = 8.5625;  // mean of the 16 e2m1 values squared
  const double target = double(std) * double(std) / kCodeMeanSquare;  // = 4^e * (1 + 3p)
  Mxfp4ScaleMix mix;
  mix.low_exponent = int(std::floor(std::log2(target) / 2.0));
  const double ratio = target / std::ldexp(1.0, 2 * mix.low_exponent);  // in [1, 4)
  mix.p_high = (ratio - 1.0) / 3.0;
  if (mix.p_high < 0) mix.p_high = 0;
  if (mix.p_high > 1) mix.p_high = 1;
  return mix;
}

void FillBytes(const TensorInit& init, uint64_t key, uint64_t begin, uint64_t n, uint8_t* out) {
  switch (init.kind) {
    case InitKind::kBf16Normal:
      ATOM_CHECK(begin % 2 == 0 && n % 2 == 0);
      FillBf16(init, key, begin / 2, n / 2, out);
      return;
    case InitKind::kMxfp4Codes:
      FillUniformBytes(key, begin, n, out);
      return;
    case InitKind::kMxfp4Scales:
      FillScales(init, key, begin, n, out);
      return;
  }
}

}  // namespace atom::synthetic
