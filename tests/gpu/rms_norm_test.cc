// FusedAddRmsNorm against cpu::ref::Add + cpu::ref::RmsNorm: the residual exactly (the same f32
// add), the bf16 output within bf16 rounding, every element written; gpt-oss's 2880 and the
// shapes that take each code path. FusedCombineAddRmsNorm: bit for bit the MoE combine
// (moe::LaunchCombine) followed by FusedAddRmsNorm, on both code paths.
#include "backends/cuda/rms_norm.h"

#include <gtest/gtest.h>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cuda/moe_kernels.h"
#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Bf16ToFloats;
using testing::Download;
using testing::Poisoned;
using testing::RandomBf16;
using testing::RandomFloats;
using testing::RelativeError;
using testing::Upload;

// bf16 rounding alone gives about 1.1e-3 (RMS of a half-ulp error over 2^-8 relative spacing).
constexpr double kBf16Tolerance = 4e-3;

void Check(int64_t tokens, int64_t dim, bool with_delta) {
  SCOPED_TRACE(::testing::Message()
               << "tokens " << tokens << " dim " << dim << " delta " << with_delta);
  constexpr float kEps = 1e-5f;
  const std::vector<float> residual = RandomFloats(tokens * dim, -3.0f, 3.0f);
  const std::vector<float> delta = RandomFloats(tokens * dim, -1.0f, 1.0f);
  const testing::Bf16Values gain = RandomBf16(dim, 0.5f, 1.5f);

  DeviceBuffer d_residual = Upload(residual);
  DeviceBuffer d_delta = Upload(delta);
  DeviceBuffer d_gain = Upload(gain.bits);
  DeviceBuffer d_out = Poisoned<uint16_t>(tokens * dim);
  ATOM_ASSERT_OK(FusedAddRmsNorm(static_cast<float*>(d_residual.data()),
                                 with_delta ? static_cast<const float*>(d_delta.data()) : nullptr,
                                 static_cast<const __nv_bfloat16*>(d_gain.data()), kEps, tokens,
                                 dim, static_cast<__nv_bfloat16*>(d_out.data()), nullptr));
  const std::vector<float> got_residual = Download<float>(d_residual, tokens * dim);
  const std::vector<float> got = Bf16ToFloats(Download<uint16_t>(d_out, tokens * dim));

  std::vector<float> want_residual = residual;
  std::vector<float> delta_copy = delta;
  const Tensor x(want_residual.data(), DType::kF32, {tokens, dim});
  if (with_delta) cpu::ref::Add(x, Tensor(delta_copy.data(), DType::kF32, {tokens, dim}));
  HostTensor want(DType::kF32, {tokens, dim});
  std::vector<uint16_t> gain_bits = gain.bits;
  cpu::ref::RmsNorm(x, Tensor(gain_bits.data(), DType::kBF16, {dim}), kEps, want);
  const std::vector<float> ref(want.data<float>(), want.data<float>() + tokens * dim);

  EXPECT_EQ(got_residual, want_residual);
  EXPECT_LT(RelativeError(got, ref), kBf16Tolerance);
}

TEST(CudaRmsNorm, FusedAddMatchesReferenceAtGptOssSize) {
  for (int64_t tokens : {1, 7, 256, 4096}) Check(tokens, 2880, /*with_delta=*/true);
}

TEST(CudaRmsNorm, PlainNormMatchesReference) {
  for (int64_t tokens : {1, 7, 4096}) Check(tokens, 2880, /*with_delta=*/false);
}

TEST(CudaRmsNorm, EveryCodePath) {
  Check(3, 8, true);      // one unit per row
  Check(5, 4096, true);   // two units per thread, power of two
  Check(2, 32768, true);  // four units per thread, 1024 threads
  Check(3, 40000, true);  // too long for registers: two-pass path
  Check(4, 100, true);    // dim % 8 != 0: scalar path
  Check(2, 2887, false);  // scalar path, no delta
}

TEST(CudaRmsNorm, MisalignedPointersTakeTheScalarPath) {
  constexpr int64_t kDim = 2880;
  const std::vector<float> residual = RandomFloats(kDim + 1);
  const testing::Bf16Values gain = RandomBf16(kDim, 0.5f, 1.5f);
  DeviceBuffer d_residual = Upload(residual);
  DeviceBuffer d_gain = Upload(gain.bits);
  DeviceBuffer d_out = Poisoned<uint16_t>(kDim);
  float* shifted = static_cast<float*>(d_residual.data()) + 1;  // 4-byte aligned only
  ATOM_ASSERT_OK(FusedAddRmsNorm(shifted, nullptr, static_cast<const __nv_bfloat16*>(d_gain.data()),
                                 1e-5f, 1, kDim, static_cast<__nv_bfloat16*>(d_out.data()),
                                 nullptr));
  const std::vector<float> got = Bf16ToFloats(Download<uint16_t>(d_out, kDim));
  std::vector<float> x(residual.begin() + 1, residual.end());
  std::vector<uint16_t> gain_bits = gain.bits;
  HostTensor want(DType::kF32, {1, kDim});
  cpu::ref::RmsNorm(Tensor(x.data(), DType::kF32, {1, kDim}),
                    Tensor(gain_bits.data(), DType::kBF16, {kDim}), 1e-5f, want);
  EXPECT_LT(RelativeError(got, std::vector<float>(want.data<float>(), want.data<float>() + kDim)),
            kBf16Tolerance);
}

// The combine kernel then the norm, against the fused kernel: residual and output identical.
void CheckCombine(int64_t tokens, int64_t dim, int k) {
  SCOPED_TRACE(::testing::Message() << "tokens " << tokens << " dim " << dim << " k " << k);
  const std::vector<float> residual = RandomFloats(tokens * dim, -3.0f, 3.0f);
  const std::vector<float> pairs = RandomFloats(tokens * k * dim, -2.0f, 2.0f);
  const std::vector<float> weights = RandomFloats(tokens * k, 0.0f, 1.0f);
  const testing::Bf16Values gain = RandomBf16(dim, 0.5f, 1.5f);
  DeviceBuffer d_pairs = Upload(pairs), d_weights = Upload(weights), d_gain = Upload(gain.bits);
  auto* g = static_cast<const __nv_bfloat16*>(d_gain.data());
  auto* p = static_cast<const float*>(d_pairs.data());
  auto* w = static_cast<const float*>(d_weights.data());

  DeviceBuffer r1 = Upload(residual), combined = Poisoned<float>(tokens * dim);
  DeviceBuffer out1 = Poisoned<uint16_t>(tokens * dim);
  ATOM_ASSERT_OK(moe::LaunchCombine(p, w, int(tokens), k, int(dim),
                                    static_cast<float*>(combined.data()), nullptr));
  ATOM_ASSERT_OK(FusedAddRmsNorm(static_cast<float*>(r1.data()),
                                 static_cast<const float*>(combined.data()), g, 1e-5f, tokens, dim,
                                 static_cast<__nv_bfloat16*>(out1.data()), nullptr));
  DeviceBuffer r2 = Upload(residual), out2 = Poisoned<uint16_t>(tokens * dim);
  ATOM_ASSERT_OK(FusedCombineAddRmsNorm(static_cast<float*>(r2.data()), p, w, k, g, 1e-5f, tokens,
                                        dim, static_cast<__nv_bfloat16*>(out2.data()), nullptr));
  EXPECT_EQ(Download<float>(r2, tokens * dim), Download<float>(r1, tokens * dim));
  EXPECT_EQ(Download<uint16_t>(out2, tokens * dim), Download<uint16_t>(out1, tokens * dim));
}

TEST(CudaRmsNorm, CombineFusedEqualsCombineThenNorm) {
  for (int64_t tokens : {1, 8, 300}) CheckCombine(tokens, 2880, 4);
  CheckCombine(3, 40000, 4);  // two-pass path
  CheckCombine(2, 100, 1);
  CheckCombine(5, 64, 32);
  auto* f = reinterpret_cast<float*>(16);
  auto* g = reinterpret_cast<__nv_bfloat16*>(16);
  EXPECT_EQ(FusedCombineAddRmsNorm(f, f, f, 0, g, 1e-5f, 1, 8, g, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FusedCombineAddRmsNorm(f, f, nullptr, 4, g, 1e-5f, 1, 8, g, nullptr).code(),
            StatusCode::kInvalidArgument);
}

TEST(CudaRmsNorm, RejectsBadArguments) {
  auto* p = reinterpret_cast<float*>(16);
  auto* g = reinterpret_cast<__nv_bfloat16*>(16);
  EXPECT_EQ(FusedAddRmsNorm(p, nullptr, g, 1e-5f, 1, 0, g, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FusedAddRmsNorm(p, nullptr, g, 1e-5f, 1, kRmsNormMaxDim + 1, g, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FusedAddRmsNorm(p, nullptr, g, -1.0f, 1, 8, g, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FusedAddRmsNorm(nullptr, nullptr, g, 1e-5f, 1, 8, g, nullptr).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace atom::cuda
