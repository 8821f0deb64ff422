// CublasLtLinear against cpu::ref::Linear at gpt-oss shapes (qkv 2880 -> 5120, o 4096 -> 2880,
// router 2880 -> 32 / 128 with f32 logits, unembedding 2880 -> 201,088 with f32 logits) for
// T = 1, 7, 256, 4096. Every output element must be written (poisoned, checked finite); the
// values are compared on a sample of rows (and, for the unembedding, of output columns) so the
// naive reference stays within seconds.
#include "backends/cuda/cublaslt_linear.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "bulk_random.h"
#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Bf16ToFloats;
using testing::BulkRandomBf16;
using testing::Download;
using testing::Poisoned;
using testing::RandomBf16;
using testing::RelativeError;
using testing::TestRng;
using testing::Upload;

constexpr double kBf16OutTolerance = 5e-3;  // one bf16 rounding of the f32 sum
constexpr double kF32OutTolerance = 1e-4;   // f32 sums in another order (tensor cores)

std::unique_ptr<CublasLtLinear> MakeLinear() {
  auto linear = CublasLtLinear::Create();
  EXPECT_TRUE(linear.ok()) << linear.status().ToString();
  return linear.ok() ? std::move(linear).value() : nullptr;
}

// Up to `n` distinct indices in [0, size), always with the first and the last.
std::vector<int64_t> Sample(int64_t size, int64_t n) {
  std::vector<int64_t> all(size);
  for (int64_t i = 0; i < size; ++i) all[i] = i;
  if (size <= n) return all;
  std::shuffle(all.begin() + 1, all.end() - 1, TestRng());
  std::vector<int64_t> s = {0, size - 1};
  s.insert(s.end(), all.begin() + 1, all.begin() + (n - 1));
  std::sort(s.begin(), s.end());
  return s;
}

struct Operands {
  int64_t tokens = 0, in = 0, out = 0;
  std::vector<uint16_t> x = {}, weight = {}, bias = {};  // bf16 bits; bias empty: none
  DType bias_dtype = DType::kBF16;
  DType out_dtype = DType::kF32;
};

// Runs the layer on the device; checks all outputs finite and a sample against the reference.
void Check(CublasLtLinear& linear, const Operands& o, const DeviceBuffer& d_weight,
           int64_t max_rows, int64_t max_cols) {
  SCOPED_TRACE(::testing::Message() << "T " << o.tokens << " " << o.in << " -> " << o.out << " out "
                                    << DTypeName(o.out_dtype) << " bias "
                                    << (o.bias.empty() ? "none" : DTypeName(o.bias_dtype)));
  const int64_t T = o.tokens;
  DeviceBuffer d_x = Upload(o.x);
  DeviceBuffer d_bias;
  std::vector<float> bias_f32 = Bf16ToFloats(o.bias);
  if (!o.bias.empty()) d_bias = o.bias_dtype == DType::kBF16 ? Upload(o.bias) : Upload(bias_f32);
  const bool bf16_out = o.out_dtype == DType::kBF16;
  DeviceBuffer d_out = bf16_out ? Poisoned<uint16_t>(T * o.out) : Poisoned<float>(T * o.out);
  const Tensor x = d_x.View(DType::kBF16, {T, o.in});
  const Tensor w = d_weight.View(DType::kBF16, {o.out, o.in});
  const Tensor bias = o.bias.empty() ? Tensor() : d_bias.View(o.bias_dtype, {o.out});
  const Tensor out = d_out.View(o.out_dtype, {T, o.out});
  ATOM_ASSERT_OK(linear.Linear(x, w, bias, out, nullptr));
  if (!o.bias.empty()) {
    auto fused = linear.FusesBias(x, w, bias, out);
    ATOM_ASSERT_OK(fused.status());
    std::printf("  %s bias, %s out: bias %s\n", DTypeName(o.bias_dtype).data(),
                DTypeName(o.out_dtype).data(), *fused ? "fused in the epilogue" : "added after");
  }
  const std::vector<float> got = bf16_out ? Bf16ToFloats(Download<uint16_t>(d_out, T * o.out))
                                          : Download<float>(d_out, T * o.out);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;

  // Reference on the sampled rows and columns (weight and bias rows gathered).
  const std::vector<int64_t> rows = Sample(T, max_rows), cols = Sample(o.out, max_cols);
  const int64_t R = int64_t(rows.size()), C = int64_t(cols.size());
  std::vector<float> xs(R * o.in);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t i = 0; i < o.in; ++i) xs[r * o.in + i] = Bf16ToFloat(o.x[rows[r] * o.in + i]);
  std::vector<uint16_t> ws(C * o.in), bs;
  for (int64_t c = 0; c < C; ++c)
    std::copy_n(o.weight.begin() + cols[c] * o.in, o.in, ws.begin() + c * o.in);
  if (!o.bias.empty())
    for (int64_t c : cols) bs.push_back(o.bias[c]);
  HostTensor want(DType::kF32, {R, C});
  cpu::ref::Linear(Tensor(xs.data(), DType::kF32, {R, o.in}),
                   Tensor(ws.data(), DType::kBF16, {C, o.in}),
                   bs.empty() ? Tensor() : Tensor(bs.data(), DType::kBF16, {C}), want);
  std::vector<float> got_sample(R * C);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) got_sample[r * C + c] = got[rows[r] * o.out + cols[c]];
  EXPECT_LT(
      RelativeError(got_sample, std::vector<float>(want.data<float>(), want.data<float>() + R * C)),
      bf16_out ? kBf16OutTolerance : kF32OutTolerance);
}

void CheckLayer(int64_t in, int64_t out, bool with_bias, DType out_dtype, DType bias_dtype,
                std::initializer_list<int64_t> token_counts) {
  auto linear = MakeLinear();
  ASSERT_NE(linear, nullptr);
  Operands o{.tokens = 0, .in = in, .out = out};
  o.weight = RandomBf16(out * in).bits;
  if (with_bias) o.bias = RandomBf16(out).bits;
  o.bias_dtype = bias_dtype;
  o.out_dtype = out_dtype;
  DeviceBuffer d_weight = Upload(o.weight);
  for (int64_t T : token_counts) {
    o.tokens = T;
    o.x = RandomBf16(T * in).bits;
    Check(*linear, o, d_weight, /*max_rows=*/16, /*max_cols=*/out);
  }
}

TEST(CudaLinear, QkvProjection) {
  CheckLayer(2880, 5120, true, DType::kBF16, DType::kBF16, {1, 7, 256, 4096});
}

TEST(CudaLinear, OutputProjection) {
  CheckLayer(4096, 2880, true, DType::kBF16, DType::kBF16, {1, 7, 256, 4096});
}

TEST(CudaLinear, RouterWithF32Logits) {
  for (int64_t experts : {32, 128}) {
    CheckLayer(2880, experts, true, DType::kF32, DType::kBF16, {1, 7, 256, 4096});
    CheckLayer(2880, experts, true, DType::kF32, DType::kF32, {1, 7, 256});
  }
}

TEST(CudaLinear, OddShapesAndNoBias) {
  CheckLayer(64, 24, false, DType::kBF16, DType::kBF16, {1, 3, 1000});
  CheckLayer(2880, 1000, true, DType::kF32, DType::kF32, {5});
  CheckLayer(2880, 8, true, DType::kBF16, DType::kF32, {5});  // f32 bias, bf16 out
}

TEST(CudaLinear, UnembeddingAtVocabularySize) {
  constexpr int64_t kVocab = 201088, kHidden = 2880;
  auto linear = MakeLinear();
  ASSERT_NE(linear, nullptr);
  Operands o{.tokens = 0, .in = kHidden, .out = kVocab};
  o.weight = BulkRandomBf16(size_t(kVocab) * kHidden, 1.0f);
  o.out_dtype = DType::kF32;
  DeviceBuffer d_weight = Upload(o.weight);
  for (int64_t T : {1, 7, 256}) {
    o.tokens = T;
    o.x = RandomBf16(T * kHidden).bits;
    Check(*linear, o, d_weight, /*max_rows=*/4, /*max_cols=*/2048);
  }
}

TEST(CudaLinear, PlansAreCachedPerShape) {
  auto linear = MakeLinear();
  ASSERT_NE(linear, nullptr);
  DeviceBuffer x = Poisoned<uint16_t>(8 * 64), w = Poisoned<uint16_t>(32 * 64);
  DeviceBuffer out = Poisoned<float>(8 * 32);
  const Tensor wt = w.View(DType::kBF16, {32, 64});
  ATOM_ASSERT_OK(
      linear->Plan(x.View(DType::kBF16, {8, 64}), wt, Tensor(), out.View(DType::kF32, {8, 32})));
  ATOM_ASSERT_OK(
      linear->Plan(x.View(DType::kBF16, {8, 64}), wt, Tensor(), out.View(DType::kF32, {8, 32})));
  EXPECT_EQ(linear->cached_plans(), 1u);
  ATOM_ASSERT_OK(
      linear->Plan(x.View(DType::kBF16, {4, 64}), wt, Tensor(), out.View(DType::kF32, {4, 32})));
  ATOM_ASSERT_OK(
      linear->Plan(x.View(DType::kBF16, {8, 64}), wt, Tensor(), out.View(DType::kBF16, {8, 32})));
  EXPECT_EQ(linear->cached_plans(), 3u);
}

// A planned Linear is captured into a CUDA graph and replayed with new inputs in place.
TEST(CudaLinear, CapturesIntoACudaGraph) {
  auto linear = MakeLinear();
  ASSERT_NE(linear, nullptr);
  constexpr int64_t kT = 4, kIn = 2880, kOut = 5120;
  Operands o{.tokens = kT, .in = kIn, .out = kOut};
  o.weight = RandomBf16(kOut * kIn).bits;
  o.bias = RandomBf16(kOut).bits;
  o.out_dtype = DType::kBF16;
  DeviceBuffer d_w = Upload(o.weight), d_b = Upload(o.bias);
  DeviceBuffer d_x = Poisoned<uint16_t>(kT * kIn), d_out = Poisoned<uint16_t>(kT * kOut);
  const Tensor x = d_x.View(DType::kBF16, {kT, kIn}), w = d_w.View(DType::kBF16, {kOut, kIn});
  const Tensor b = d_b.View(DType::kBF16, {kOut}), out = d_out.View(DType::kBF16, {kT, kOut});
  ATOM_ASSERT_OK(linear->Plan(x, w, b, out));

  cudaStream_t stream;
  ATOM_ASSERT_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph;
  ATOM_ASSERT_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const Status captured = linear->Linear(x, w, b, out, stream);
  ATOM_ASSERT_CUDA(cudaStreamEndCapture(stream, &graph));
  ATOM_ASSERT_OK(captured);
  cudaGraphExec_t exec;
  ATOM_ASSERT_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  for (int replay = 0; replay < 2; ++replay) {
    o.x = RandomBf16(kT * kIn).bits;
    ATOM_ASSERT_CUDA(cudaMemcpy(d_x.data(), o.x.data(), o.x.size() * 2, cudaMemcpyHostToDevice));
    ATOM_ASSERT_CUDA(cudaGraphLaunch(exec, stream));
    ATOM_ASSERT_CUDA(cudaStreamSynchronize(stream));
    const std::vector<float> got = Bf16ToFloats(Download<uint16_t>(d_out, kT * kOut));
    std::vector<float> xf = Bf16ToFloats(o.x);
    HostTensor want(DType::kF32, {kT, kOut});
    cpu::ref::Linear(Tensor(xf.data(), DType::kF32, {kT, kIn}),
                     Tensor(o.weight.data(), DType::kBF16, {kOut, kIn}),
                     Tensor(o.bias.data(), DType::kBF16, {kOut}), want);
    EXPECT_LT(
        RelativeError(got, std::vector<float>(want.data<float>(), want.data<float>() + kT * kOut)),
        kBf16OutTolerance);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

// Tune() may pick another algorithm; every later call must still be right, and capture refused.
TEST(CudaLinear, TunedPlansStayCorrect) {
  auto linear = MakeLinear();
  ASSERT_NE(linear, nullptr);
  constexpr int64_t kIn = 2880, kOut = 5120;
  Operands o{.in = kIn, .out = kOut, .out_dtype = DType::kBF16};
  o.weight = RandomBf16(kOut * kIn).bits;
  o.bias = RandomBf16(kOut).bits;
  DeviceBuffer d_w = Upload(o.weight), d_b = Upload(o.bias);
  for (int64_t T : {1, 64}) {
    o.tokens = T;
    o.x = RandomBf16(T * kIn).bits;
    DeviceBuffer d_x = Upload(o.x), d_out = Poisoned<uint16_t>(T * kOut);
    auto chosen =
        linear->Tune(d_x.View(DType::kBF16, {T, kIn}), d_w.View(DType::kBF16, {kOut, kIn}),
                     d_b.View(DType::kBF16, {kOut}), d_out.View(DType::kBF16, {T, kOut}), nullptr);
    ATOM_ASSERT_OK(chosen.status());
    std::printf("  T %ld: tuned candidate %d\n", long(T), *chosen);
    Check(*linear, o, d_w, /*max_rows=*/16, /*max_cols=*/kOut);
  }
  cudaStream_t stream;
  ATOM_ASSERT_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  DeviceBuffer x = Poisoned<uint16_t>(kIn), out = Poisoned<uint16_t>(kOut);
  ATOM_ASSERT_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  auto refused = linear->Tune(x.View(DType::kBF16, {1, kIn}), d_w.View(DType::kBF16, {kOut, kIn}),
                              Tensor(), out.View(DType::kBF16, {1, kOut}), stream);
  cudaGraph_t graph = nullptr;
  ATOM_ASSERT_CUDA(cudaStreamEndCapture(stream, &graph));
  if (graph) cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

TEST(CudaLinear, RejectsBadOperands) {
  auto linear = MakeLinear();
  ASSERT_NE(linear, nullptr);
  DeviceBuffer buf = Poisoned<float>(1024);
  const Tensor x = buf.View(DType::kBF16, {2, 16}), w = buf.View(DType::kBF16, {8, 16});
  const Tensor out = buf.View(DType::kF32, {2, 8});
  EXPECT_EQ(linear->Linear(buf.View(DType::kF32, {2, 16}), w, Tensor(), out, nullptr).code(),
            StatusCode::kInvalidArgument);  // x not bf16
  EXPECT_EQ(linear->Linear(x, buf.View(DType::kBF16, {8, 15}), Tensor(), out, nullptr).code(),
            StatusCode::kInvalidArgument);  // in mismatch
  EXPECT_EQ(linear->Linear(x, w, Tensor(), buf.View(DType::kF32, {2, 9}), nullptr).code(),
            StatusCode::kInvalidArgument);  // out mismatch
  EXPECT_EQ(linear->Linear(x, w, buf.View(DType::kBF16, {7}), out, nullptr).code(),
            StatusCode::kInvalidArgument);  // bias length
  std::vector<uint16_t> host(32);
  EXPECT_EQ(
      linear->Linear(Tensor(host.data(), DType::kBF16, {2, 16}), w, Tensor(), out, nullptr).code(),
      StatusCode::kInvalidArgument);  // host memory
}

}  // namespace
}  // namespace atom::cuda
