// Helpers for `gpu` tests: every CUDA kernel is checked against its CPU reference on fresh random
// inputs, with output buffers poisoned (all bits set: NaN in every float format) before the
// kernel runs, so an element the kernel fails to write cannot pass.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_buffer.h"
#include "core/dtype.h"

namespace atom::testing {

// Fails the test (and returns from it) when a Status or cudaError_t is not OK.
#define ATOM_ASSERT_OK(expr)                                     \
  do {                                                           \
    const ::atom::Status atom_test_status_ = (expr);             \
    ASSERT_TRUE(atom_test_status_.ok()) << atom_test_status_.ToString(); \
  } while (0)
#define ATOM_ASSERT_CUDA(expr) ATOM_ASSERT_OK(::atom::cuda::CudaStatusOf((expr), #expr))

// Fresh random values each run (the seed is printed so a failure can be replayed).
inline std::mt19937& TestRng() {
  static std::mt19937 rng = [] {
    const uint32_t seed = std::random_device{}();
    std::printf("gpu test seed %u\n", seed);
    return std::mt19937(seed);
  }();
  return rng;
}

inline std::vector<float> RandomFloats(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(TestRng());
  return v;
}

// Values rounded to bf16 (so CPU and GPU see identical inputs), as bf16 bits and as floats.
struct Bf16Values {
  std::vector<uint16_t> bits;
  std::vector<float> floats;
};
inline Bf16Values RandomBf16(size_t n, float lo = -1.0f, float hi = 1.0f) {
  Bf16Values v;
  v.floats = RandomFloats(n, lo, hi);
  v.bits.resize(n);
  for (size_t i = 0; i < n; ++i) {
    v.bits[i] = FloatToBf16(v.floats[i]);
    v.floats[i] = Bf16ToFloat(v.bits[i]);
  }
  return v;
}

inline std::vector<float> Bf16ToFloats(const std::vector<uint16_t>& bits) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = Bf16ToFloat(bits[i]);
  return out;
}

// ||a - b|| / ||b|| over all elements; infinity if any element of `a` is not finite.
inline double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    ref += double(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(ref, 1e-30));
}

// A device copy of `host` (any trivially copyable element type).
template <typename T>
cuda::DeviceBuffer Upload(const std::vector<T>& host) {
  auto buffer = cuda::DeviceBuffer::Allocate(host.size() * sizeof(T));
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  if (!buffer.ok()) return {};
  EXPECT_EQ(cudaMemcpy(buffer->data(), host.data(), host.size() * sizeof(T),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  return std::move(buffer).value();
}

// A device buffer of `n` elements of T with every bit set (NaN for f32, bf16 and f16).
template <typename T>
cuda::DeviceBuffer Poisoned(size_t n) {
  auto buffer = cuda::DeviceBuffer::Allocate(n * sizeof(T));
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  if (!buffer.ok()) return {};
  EXPECT_EQ(cudaMemset(buffer->data(), 0xFF, n * sizeof(T)), cudaSuccess);
  return std::move(buffer).value();
}

// The first `n` elements of a device buffer, after the device has finished its work.
template <typename T>
std::vector<T> Download(const cuda::DeviceBuffer& buffer, size_t n) {
  std::vector<T> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), buffer.data(), n * sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return host;
}

}  // namespace atom::testing
