// EmbeddingBf16 against cpu::ref::Embedding: exact (bf16 widens to f32 exactly), every element
// written, at gpt-oss size (201,088 x 2880) and on shapes that take the scalar path.
#include "backends/cuda/embedding.h"

#include <gtest/gtest.h>

#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "bulk_random.h"
#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::BulkRandomBf16;
using testing::Download;
using testing::Poisoned;
using testing::RelativeError;
using testing::TestRng;
using testing::Upload;

std::vector<int32_t> RandomIds(int64_t n, int64_t vocab) {
  std::uniform_int_distribution<int32_t> d(0, int32_t(vocab - 1));
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = d(TestRng());
  if (n > 1) ids[0] = 0, ids[n - 1] = int32_t(vocab - 1);  // both ends of the table
  return ids;
}

// Runs the kernel on a device table and checks every row against the reference.
void CheckAgainstReference(const std::vector<uint16_t>& table, const DeviceBuffer& device_table,
                           int64_t vocab, int64_t dim, const std::vector<int32_t>& ids) {
  const int64_t n = int64_t(ids.size());
  DeviceBuffer d_ids = Upload(ids);
  DeviceBuffer d_out = Poisoned<float>(n * dim);
  ATOM_ASSERT_OK(EmbeddingBf16(static_cast<const __nv_bfloat16*>(device_table.data()), vocab, dim,
                               static_cast<const int32_t*>(d_ids.data()), n,
                               static_cast<float*>(d_out.data()), nullptr));
  const std::vector<float> got = Download<float>(d_out, n * dim);
  HostTensor want(DType::kF32, {n, dim});
  cpu::ref::Embedding(Tensor(const_cast<uint16_t*>(table.data()), DType::kBF16, {vocab, dim}),
                      ids.data(), want);
  const std::vector<float> ref(want.data<float>(), want.data<float>() + n * dim);
  EXPECT_EQ(RelativeError(got, ref), 0.0) << "vocab " << vocab << " dim " << dim << " n " << n;
}

TEST(CudaEmbedding, MatchesReferenceAtGptOssSize) {
  constexpr int64_t kVocab = 201088, kDim = 2880;
  const std::vector<uint16_t> table = BulkRandomBf16(size_t(kVocab) * kDim, 1.0f);
  DeviceBuffer d_table = Upload(table);
  for (int64_t n : {1, 7, 256, 4096})
    CheckAgainstReference(table, d_table, kVocab, kDim, RandomIds(n, kVocab));
}

TEST(CudaEmbedding, ScalarPathForOddDims) {
  for (int64_t dim : {1, 3, 100, 2887}) {
    constexpr int64_t kVocab = 999;
    const std::vector<uint16_t> table = BulkRandomBf16(size_t(kVocab) * dim, 4.0f);
    DeviceBuffer d_table = Upload(table);
    CheckAgainstReference(table, d_table, kVocab, dim, RandomIds(37, kVocab));
  }
}

TEST(CudaEmbedding, OutOfRangeIdGivesNanRow) {
  constexpr int64_t kVocab = 64, kDim = 16;
  DeviceBuffer d_table = Upload(BulkRandomBf16(kVocab * kDim, 1.0f));
  const std::vector<int32_t> ids = {3, -1, int32_t(kVocab)};
  DeviceBuffer d_ids = Upload(ids);
  DeviceBuffer d_out = Poisoned<float>(3 * kDim);
  ATOM_ASSERT_OK(EmbeddingBf16(static_cast<const __nv_bfloat16*>(d_table.data()), kVocab, kDim,
                               static_cast<const int32_t*>(d_ids.data()), 3,
                               static_cast<float*>(d_out.data()), nullptr));
  const std::vector<float> got = Download<float>(d_out, 3 * kDim);
  for (int64_t i = 0; i < kDim; ++i) {
    EXPECT_TRUE(std::isfinite(got[i]));
    EXPECT_TRUE(std::isnan(got[kDim + i]));
    EXPECT_TRUE(std::isnan(got[2 * kDim + i]));
  }
}

TEST(CudaEmbedding, RejectsBadArguments) {
  float* out = reinterpret_cast<float*>(16);
  const auto* table = reinterpret_cast<const __nv_bfloat16*>(16);
  const auto* ids = reinterpret_cast<const int32_t*>(16);
  EXPECT_EQ(EmbeddingBf16(table, 0, 8, ids, 1, out, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddingBf16(table, 8, 0, ids, 1, out, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddingBf16(nullptr, 8, 8, ids, 1, out, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(EmbeddingBf16(table, 8, 8, ids, 0, out, nullptr).ok());  // nothing to do
}

}  // namespace
}  // namespace atom::cuda
