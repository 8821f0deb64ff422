// GatherRowsBf16 (the rows whose logits a step wants): an exact copy of each chosen row, every
// element written, at gpt-oss width (2880) with repeated and reversed rows, on widths that are
// not multiples of the block, and the argument checks.
#include "backends/cuda/gather_rows.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Download;
using testing::Poisoned;
using testing::RandomBf16;
using testing::TestRng;
using testing::Upload;

void CheckGather(int64_t num_in, int64_t dim, const std::vector<int32_t>& rows) {
  const testing::Bf16Values in = RandomBf16(size_t(num_in * dim));
  DeviceBuffer d_in = Upload(in.bits);
  DeviceBuffer d_rows = Upload(rows);
  const int64_t n = int64_t(rows.size());
  DeviceBuffer d_out = Poisoned<uint16_t>(size_t(std::max<int64_t>(n, 1) * dim));
  ATOM_ASSERT_OK(GatherRowsBf16(static_cast<const __nv_bfloat16*>(d_in.data()), dim,
                                static_cast<const int32_t*>(d_rows.data()), n,
                                static_cast<__nv_bfloat16*>(d_out.data()), nullptr));
  ATOM_ASSERT_CUDA(cudaDeviceSynchronize());
  const std::vector<uint16_t> got = Download<uint16_t>(d_out, size_t(n * dim));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < dim; ++j)
      ASSERT_EQ(got[size_t(i * dim + j)], in.bits[size_t(rows[size_t(i)] * dim + j)])
          << "row " << i << " (source " << rows[size_t(i)] << "), column " << j;
}

TEST(CudaGatherRows, GptOssWidthAnyOrderAndRepeats) {
  std::uniform_int_distribution<int32_t> pick(0, 299);
  std::vector<int32_t> rows = {299, 0, 7, 7, 150};
  for (int i = 0; i < 251; ++i) rows.push_back(pick(TestRng()));
  CheckGather(300, 2880, rows);
}

TEST(CudaGatherRows, OddWidthsAndOneRow) {
  CheckGather(5, 1, {4, 0});
  CheckGather(9, 97, {8, 3, 3});
  CheckGather(3, 257, {1});
}

TEST(CudaGatherRows, NoRowsWritesNothing) {
  DeviceBuffer out = Poisoned<uint16_t>(16);
  DeviceBuffer in = Upload(std::vector<uint16_t>(16, 0));
  DeviceBuffer rows = Upload(std::vector<int32_t>{0});
  ATOM_ASSERT_OK(GatherRowsBf16(static_cast<const __nv_bfloat16*>(in.data()), 16,
                                static_cast<const int32_t*>(rows.data()), 0,
                                static_cast<__nv_bfloat16*>(out.data()), nullptr));
  ATOM_ASSERT_CUDA(cudaDeviceSynchronize());
  for (uint16_t v : Download<uint16_t>(out, 16)) EXPECT_EQ(v, 0xFFFF);
}

TEST(CudaGatherRows, RejectsBadArguments) {
  DeviceBuffer buf = Poisoned<uint16_t>(64);
  auto* p = static_cast<__nv_bfloat16*>(buf.data());
  const auto* rows = static_cast<const int32_t*>(buf.data());
  EXPECT_EQ(GatherRowsBf16(nullptr, 8, rows, 1, p, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GatherRowsBf16(p, 0, rows, 1, p + 32, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GatherRowsBf16(p, 8, rows, -1, p + 32, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace atom::cuda
