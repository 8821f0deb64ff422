// ArgmaxRows against the engine's host GreedySample on [B, 201,088] f32 logits: exact indices,
// with planted ties for the maximum, NaN and -inf, and every output written.
#include "backends/cuda/sampling.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/sampler.h"
#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Download;
using testing::Poisoned;
using testing::RandomFloats;
using testing::TestRng;
using testing::Upload;

void Check(int64_t rows, int64_t vocab, int64_t ld, int64_t offset = 0) {
  SCOPED_TRACE(::testing::Message()
               << "rows " << rows << " vocab " << vocab << " ld " << ld << " offset " << offset);
  std::vector<float> logits = RandomFloats(offset + rows * ld, -20.0f, 20.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = logits.data() + offset + r * ld;
    const int64_t a = int64_t(TestRng()() % vocab), b = int64_t(TestRng()() % vocab);
    switch (r % 5) {
      case 0:
        row[a] = row[b] = 25.0f;
        break;  // a tie for the maximum
      case 1:
        row[a] = NAN, row[b] = INFINITY;
        break;  // NaN never wins; +inf does
      case 2:
        for (int64_t v = 0; v < vocab; ++v) row[v] = v % 3 ? -INFINITY : NAN;  // nothing > -inf
        break;
      case 3:
        row[vocab - 1] = 30.0f;
        break;  // the very last logit
      default:
        break;
    }
  }
  DeviceBuffer d_logits = Upload(logits);
  DeviceBuffer d_out = Poisoned<int32_t>(rows);
  auto workspace = DeviceBuffer::Allocate(ArgmaxWorkspaceBytes(rows));
  ATOM_ASSERT_OK(workspace.status());
  ATOM_ASSERT_OK(ArgmaxRows(static_cast<const float*>(d_logits.data()) + offset, rows, vocab, ld,
                            static_cast<int32_t*>(d_out.data()), workspace->data(), nullptr));
  const std::vector<int32_t> got = Download<int32_t>(d_out, rows);
  for (int64_t r = 0; r < rows; ++r)
    ASSERT_EQ(got[r], GreedySample(logits.data() + offset + r * ld, vocab)) << "row " << r;
}

TEST(CudaArgmax, MatchesGreedySampleAtVocabularySize) {
  for (int64_t rows : {1, 7, 64}) Check(rows, 201088, 201088);
}

TEST(CudaArgmax, ScalarPathAndStrides) {
  Check(5, 1001, 1001);     // vocab % 4 != 0
  Check(3, 4096, 4100);     // padded rows
  Check(4, 2048, 2048, 1);  // misaligned start
  Check(2, 1, 1);
}

TEST(CudaArgmax, RejectsBadArguments) {
  const auto* l = reinterpret_cast<const float*>(16);
  auto* o = reinterpret_cast<int32_t*>(16);
  void* w = reinterpret_cast<void*>(16);
  EXPECT_EQ(ArgmaxRows(l, 1, 0, 0, o, w, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ArgmaxRows(l, 1, 8, 4, o, w, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ArgmaxRows(l, 1, 8, 8, o, nullptr, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace atom::cuda
