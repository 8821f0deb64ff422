// Helpers for the CPU kernel tests: random tensors, NaN poisoning, relative errors.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace atom::testing {

inline std::vector<float> RandomFloats(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

inline HostTensor F32Tensor(Shape shape, const std::vector<float>& values) {
  HostTensor t(DType::kF32, shape);
  EXPECT_EQ(int64_t(values.size()), t.numel());
  std::memcpy(t.data<float>(), values.data(), values.size() * sizeof(float));
  return t;
}

inline HostTensor Bf16Tensor(Shape shape, const std::vector<float>& values) {
  HostTensor t(DType::kBF16, shape);
  EXPECT_EQ(int64_t(values.size()), t.numel());
  for (size_t i = 0; i < values.size(); ++i) t.data<uint16_t>()[i] = FloatToBf16(values[i]);
  return t;
}

inline HostTensor RandomF32(std::mt19937& rng, Shape shape, float lo = -1.0f, float hi = 1.0f) {
  return F32Tensor(shape, RandomFloats(rng, shape.numel(), lo, hi));
}

inline HostTensor RandomBf16(std::mt19937& rng, Shape shape, float lo = -1.0f, float hi = 1.0f) {
  return Bf16Tensor(shape, RandomFloats(rng, shape.numel(), lo, hi));
}

inline HostTensor RandomBytes(std::mt19937& rng, Shape shape, int lo = 0, int hi = 255) {
  HostTensor t(DType::kU8, shape);
  std::uniform_int_distribution<int> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(dist(rng));
  return t;
}

inline HostTensor PoisonedF32(Shape shape) {
  HostTensor t(DType::kF32, shape);
  std::fill(t.data<float>(), t.data<float>() + t.numel(), std::numeric_limits<float>::quiet_NaN());
  return t;
}

inline std::vector<float> Values(const Tensor& t) {
  const float* p = t.data_as<const float>();
  return std::vector<float>(p, p + t.numel());
}

// True when every element is finite (so a NaN-poisoned output was fully written).
inline bool AllFinite(const Tensor& t) {
  const float* p = t.data_as<const float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

// ‖a − b‖ / ‖b‖ (Frobenius), computed in double.
inline double RelErr(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data_as<const float>()[i], y = b.data_as<const float>()[i];
    num += (x - y) * (x - y);
    den += y * y;
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

inline bool BitEqual(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

}  // namespace atom::testing
