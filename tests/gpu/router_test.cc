// RouterTopK against cpu::ref::RouterTopK: the chosen experts exactly (wherever the reference's
// k-th and (k+1)-th logits differ by more than 1e-4, and on planted exact ties, which must go to
// the lower index), the weights to f32 rounding; 32 and 128 experts, top-4, and edge shapes.
#include "backends/cuda/router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Download;
using testing::Poisoned;
using testing::RandomFloats;
using testing::TestRng;
using testing::Upload;

void Check(int64_t tokens, int experts, int k) {
  SCOPED_TRACE(::testing::Message() << "tokens " << tokens << " experts " << experts << " k " << k);
  std::vector<float> logits = RandomFloats(tokens * experts, -4.0f, 4.0f);
  // Plant exact ties in every fourth row: copy one logit over another.
  std::vector<char> tied(tokens, 0);
  for (int64_t t = 0; t < tokens; t += 4) {
    float* row = logits.data() + t * experts;
    const int a = int(TestRng()() % experts), b = int(TestRng()() % experts);
    const int top = int(std::max_element(row, row + experts) - row);
    row[b] = row[a];
    if (t % 8 == 0) row[(top + 1) % experts] = row[top];  // a tie for first place
    tied[t] = 1;
  }
  DeviceBuffer d_logits = Upload(logits);
  DeviceBuffer d_indices = Poisoned<int32_t>(tokens * k);
  DeviceBuffer d_weights = Poisoned<float>(tokens * k);
  ATOM_ASSERT_OK(RouterTopK(static_cast<const float*>(d_logits.data()), tokens, experts, k,
                            static_cast<int32_t*>(d_indices.data()),
                            static_cast<float*>(d_weights.data()), nullptr));
  const std::vector<int32_t> got_idx = Download<int32_t>(d_indices, tokens * k);
  const std::vector<float> got_w = Download<float>(d_weights, tokens * k);

  HostTensor want_idx(DType::kI32, {tokens, k}), want_w(DType::kF32, {tokens, k});
  cpu::ref::RouterTopK(Tensor(logits.data(), DType::kF32, {tokens, experts}), k, want_idx, want_w);

  int64_t checked = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* row = logits.data() + t * experts;
    std::vector<float> sorted(row, row + experts);
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const bool separated = k == experts || sorted[k - 1] - sorted[k] > 1e-4f;
    for (int i = 0; i < k; ++i) {
      const int32_t g = got_idx[t * k + i];
      ASSERT_TRUE(g >= 0 && g < experts) << "row " << t << " slot " << i << " index " << g;
      if (!separated && !tied[t]) continue;
      ASSERT_EQ(g, want_idx.data<int32_t>()[t * k + i]) << "row " << t << " slot " << i;
      const float w = want_w.data<float>()[t * k + i];
      ASSERT_NEAR(got_w[t * k + i], w, 1e-6f + 1e-5f * w) << "row " << t << " slot " << i;
    }
    checked += separated || tied[t];
  }
  EXPECT_GT(checked, tokens * 9 / 10);
}

TEST(CudaRouter, MatchesReferenceForGptOssShapes) {
  for (int experts : {32, 128})
    for (int64_t tokens : {1, 7, 256, 4096}) Check(tokens, experts, 4);
}

TEST(CudaRouter, EdgeShapes) {
  Check(17, 5, 5);  // k == E, E not a multiple of 32
  Check(9, 1, 1);
  Check(33, 64, 1);
  Check(33, 256, 8);
  Check(5, 200, 32);
}

TEST(CudaRouter, NanAndInfinityNeverBreakTheSelection) {
  constexpr int kExperts = 32, kK = 4;
  std::vector<float> logits(kExperts, -INFINITY);
  logits[3] = NAN, logits[7] = 1.0f, logits[9] = NAN;
  DeviceBuffer d_logits = Upload(logits);
  DeviceBuffer d_indices = Poisoned<int32_t>(kK), d_weights = Poisoned<float>(kK);
  ATOM_ASSERT_OK(RouterTopK(static_cast<const float*>(d_logits.data()), 1, kExperts, kK,
                            static_cast<int32_t*>(d_indices.data()),
                            static_cast<float*>(d_weights.data()), nullptr));
  const std::vector<int32_t> idx = Download<int32_t>(d_indices, kK);
  EXPECT_EQ(idx, (std::vector<int32_t>{7, 0, 1, 2}));  // then -inf ties by index (3 is NaN)
  const std::vector<float> w = Download<float>(d_weights, kK);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], 0.0f);
}

TEST(CudaRouter, RejectsBadArguments) {
  const auto* l = reinterpret_cast<const float*>(16);
  auto* i = reinterpret_cast<int32_t*>(16);
  auto* w = reinterpret_cast<float*>(16);
  EXPECT_EQ(RouterTopK(l, 1, 0, 1, i, w, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RouterTopK(l, 1, kRouterMaxExperts + 1, 4, i, w, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RouterTopK(l, 1, 32, 0, i, w, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RouterTopK(l, 1, 4, 5, i, w, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RouterTopK(l, 1, 64, 33, i, w, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RouterTopK(nullptr, 1, 32, 4, i, w, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace atom::cuda
