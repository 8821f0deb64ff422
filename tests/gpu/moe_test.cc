// The CUDA MoE block (backends/cuda/moe.h) against the CPU reference on fresh random experts,
// inputs and routings: MXFP4 at gpt-oss sizes (D = I = 2880, E = 32 and 128, k = 4) for every
// variant, skewed routings and experts without tokens, the tiny fixture's sizes (D = 96,
// I = 160: tile remainders), scale bytes past 128 (the wide decode), the bf16 expert layout,
// graph capture, and argument checks. Outputs are poisoned first: every element must be written.
//
// The reference is cpu::ref::MoeExperts on the same values (x: the bf16 inputs as f32). At real
// sizes it costs ~0.2 s per (token, slot), so there it checks a few rows and cpu::MoeExperts
// (the threaded CPU kernel, itself checked against cpu::ref to 1e-5 by tests/unit/moe_test.cc)
// checks up to 128 more; small shapes check every row against cpu::ref.
#include "backends/cuda/moe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/moe_experts_upload.h"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/router.h"
#include "gpu/gpu_test_util.h"
#include "ops/cuda_kernel_selection.h"

namespace atom {
namespace {

using cuda::MoeVariant;
using testing::Bf16Values;

constexpr double kTolerance = 1e-2;

// Random bytes at memory speed (the experts of one E = 128 layer are 1.7 GB).
void FillRandom(uint8_t* p, size_t n, uint32_t lo = 0, uint32_t hi = 255) {
  uint64_t s = (uint64_t(testing::TestRng()()) << 32) | testing::TestRng()();
  const uint32_t span = hi - lo + 1;
  for (size_t i = 0; i < n; i += 8) {
    s += 0x9E3779B97F4A7C15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (size_t j = 0; j < 8 && i + j < n; ++j) {
      const uint32_t byte = uint32_t(z >> (8 * j)) & 0xFF;
      p[i + j] = uint8_t(span == 256 ? byte : lo + byte % span);
    }
  }
}

HostTensor RandomBf16Tensor(Shape shape, float lo, float hi) {
  HostTensor t(DType::kBF16, shape);
  const Bf16Values v = testing::RandomBf16(size_t(t.numel()), lo, hi);
  std::copy(v.bits.begin(), v.bits.end(), t.data<uint16_t>());
  return t;
}

// A scale byte range that makes a dot of `cols` random codes with inputs in [-1, 1] about O(1):
// the codes' mean square is 8.56, so the sum's spread is sqrt(cols / 3 · 8.56) · 2^(s - 127).
std::pair<uint32_t, uint32_t> SaneScales(int cols) {
  const int center = 127 - int(std::lround(std::log2(std::sqrt(cols / 3.0 * 8.56))));
  return {uint32_t(center - 1), uint32_t(center + 1)};
}

// Owns the host tensors an ops::ExpertWeights views, and their device copy.
struct Experts {
  HostTensor gu_blocks, gu_scales, down_blocks, down_scales, gate_up, down, gu_bias, down_bias;
  ops::ExpertWeights w;
  std::unique_ptr<cuda::MoeExpertsOnDevice> device;
};

// scale_lo/hi = 0: SaneScales.
std::unique_ptr<Experts> MakeExperts(ops::ExpertFormat format, int e, int d, int i,
                                     uint32_t scale_lo = 0, uint32_t scale_hi = 0) {
  auto ex = std::make_unique<Experts>();
  ex->w.format = format;
  ex->w.num_experts = e;
  ex->w.hidden = d;
  ex->w.intermediate = i;
  if (format == ops::ExpertFormat::kMxfp4) {
    ex->gu_blocks = HostTensor(DType::kU8, {e, 2 * i, d / 32, 16});
    ex->gu_scales = HostTensor(DType::kU8, {e, 2 * i, d / 32});
    ex->down_blocks = HostTensor(DType::kU8, {e, d, i / 32, 16});
    ex->down_scales = HostTensor(DType::kU8, {e, d, i / 32});
    FillRandom(ex->gu_blocks.data<uint8_t>(), ex->gu_blocks.numel());
    FillRandom(ex->down_blocks.data<uint8_t>(), ex->down_blocks.numel());
    auto [glo, ghi] = scale_lo ? std::pair{scale_lo, scale_hi} : SaneScales(d);
    auto [dlo, dhi] = scale_lo ? std::pair{scale_lo, scale_hi} : SaneScales(i);
    FillRandom(ex->gu_scales.data<uint8_t>(), ex->gu_scales.numel(), glo, ghi);
    FillRandom(ex->down_scales.data<uint8_t>(), ex->down_scales.numel(), dlo, dhi);
    ex->w.gate_up_blocks = ex->gu_blocks;
    ex->w.gate_up_scales = ex->gu_scales;
    ex->w.down_blocks = ex->down_blocks;
    ex->w.down_scales = ex->down_scales;
  } else {
    const float a1 = 3.0f / std::sqrt(float(d)), a2 = 3.0f / std::sqrt(float(i));
    ex->gate_up = RandomBf16Tensor({e, d, 2 * i}, -a1, a1);
    ex->down = RandomBf16Tensor({e, i, d}, -a2, a2);
    ex->w.gate_up = ex->gate_up;
    ex->w.down = ex->down;
  }
  ex->gu_bias = RandomBf16Tensor({e, 2 * i}, -0.5f, 0.5f);
  ex->down_bias = RandomBf16Tensor({e, d}, -0.5f, 0.5f);
  ex->w.gate_up_bias = ex->gu_bias;
  ex->w.down_bias = ex->down_bias;
  auto device = cuda::UploadMoeExperts(ex->w);
  EXPECT_TRUE(device.ok()) << device.status().ToString();
  if (device.ok()) ex->device = std::make_unique<cuda::MoeExpertsOnDevice>(std::move(*device));
  return ex;
}

// Real-size MXFP4 experts are expensive to make: one set per E for the whole test binary.
const Experts& RealExperts(int e) {
  static std::map<int, std::unique_ptr<Experts>> cache;
  auto& slot = cache[e];
  if (!slot) slot = MakeExperts(ops::ExpertFormat::kMxfp4, e, 2880, 2880);
  return *slot;
}

struct Routes {
  int tokens = 0, k = 4;
  std::vector<int32_t> indices;
  std::vector<float> weights;
};

// k distinct experts per token drawn from experts [0, pool), positive weights summing to 1.
// skew: every token takes experts 0..k-1 (in a random slot order).
Routes RandomRoutes(int tokens, int k, int pool, bool skew = false) {
  Routes r{tokens, k, std::vector<int32_t>(size_t(tokens) * k),
           std::vector<float>(size_t(tokens) * k)};
  std::vector<int32_t> perm(pool);
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  for (int t = 0; t < tokens; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    if (skew)
      std::shuffle(perm.begin(), perm.begin() + k, testing::TestRng());
    else
      std::shuffle(perm.begin(), perm.end(), testing::TestRng());
    float sum = 0.0f;
    for (int s = 0; s < k; ++s) sum += (r.weights[t * k + s] = u(testing::TestRng()));
    for (int s = 0; s < k; ++s) {
      r.indices[t * k + s] = perm[s];
      r.weights[t * k + s] /= sum;
    }
  }
  return r;
}

// The reference output rows `rows` (exact: cpu::ref, else cpu::MoeExperts).
std::vector<float> Reference(const Experts& ex, const std::vector<float>& x, const Routes& r,
                             const std::vector<int>& rows, bool exact) {
  const int d = ex.w.hidden, k = r.k, n = int(rows.size());
  HostTensor xs(DType::kF32, {n, d}), is(DType::kI32, {n, k}), ws(DType::kF32, {n, k}),
      out(DType::kF32, {n, d});
  for (int j = 0; j < n; ++j) {
    std::copy_n(x.begin() + int64_t(rows[j]) * d, d, xs.data<float>() + int64_t(j) * d);
    std::copy_n(r.indices.begin() + rows[j] * k, k, is.data<int32_t>() + j * k);
    std::copy_n(r.weights.begin() + rows[j] * k, k, ws.data<float>() + j * k);
  }
  (exact ? cpu::ref::MoeExperts : cpu::MoeExperts)(xs, ex.w, is, ws, out);
  return std::vector<float>(out.data<float>(), out.data<float>() + int64_t(n) * d);
}

// The GPU output [T, D] for `variant`, into a poisoned buffer.
void RunGpu(const cuda::MoeDeviceExperts& ex, const cuda::DeviceBuffer& x, const Routes& r,
            MoeVariant variant, std::vector<float>* out) {
  cuda::DeviceBuffer indices = testing::Upload(r.indices);
  cuda::DeviceBuffer weights = testing::Upload(r.weights);
  cuda::DeviceBuffer y = testing::Poisoned<float>(size_t(r.tokens) * ex.hidden);
  const size_t bytes =
      cuda::MoeWorkspaceBytes(r.tokens, r.k, ex.num_experts, ex.hidden, ex.intermediate);
  auto workspace = cuda::DeviceBuffer::Allocate(bytes);
  ATOM_ASSERT_OK(workspace.status());
  ATOM_ASSERT_CUDA(cudaMemset(workspace->data(), 0xFF, bytes));  // stale tables must not matter
  ATOM_ASSERT_OK(cuda::LaunchMoeExperts(
      ex, static_cast<const __nv_bfloat16*>(x.data()), r.tokens,
      static_cast<const int32_t*>(indices.data()), static_cast<const float*>(weights.data()), r.k,
      static_cast<float*>(y.data()), workspace->data(), bytes, nullptr, variant));
  ATOM_ASSERT_CUDA(cudaGetLastError());
  *out = testing::Download<float>(y, size_t(r.tokens) * ex.hidden);

  // Without `out` the per-pair rows stay in the workspace; combined on the host in slot order
  // (f32 fma from zero, as the combine kernel) they give the same bits.
  ATOM_ASSERT_OK(cuda::LaunchMoeExperts(ex, static_cast<const __nv_bfloat16*>(x.data()), r.tokens,
                                        static_cast<const int32_t*>(indices.data()),
                                        static_cast<const float*>(weights.data()), r.k, nullptr,
                                        workspace->data(), bytes, nullptr, variant));
  const float* pairs_dev = cuda::MoePairOutputs(workspace->data(), r.tokens, r.k, ex.num_experts,
                                                ex.hidden, ex.intermediate);
  std::vector<float> pairs(size_t(r.tokens) * r.k * ex.hidden);
  ATOM_ASSERT_CUDA(cudaDeviceSynchronize());
  ATOM_ASSERT_CUDA(
      cudaMemcpy(pairs.data(), pairs_dev, pairs.size() * sizeof(float), cudaMemcpyDeviceToHost));
  for (int t = 0; t < r.tokens; ++t)
    for (int j = 0; j < ex.hidden; ++j) {
      float acc = 0.0f;
      for (int s = 0; s < r.k; ++s)
        acc = std::fma(r.weights[size_t(t) * r.k + s], pairs[(size_t(t) * r.k + s) * ex.hidden + j],
                       acc);
      ASSERT_EQ(acc, (*out)[size_t(t) * ex.hidden + j]) << "token " << t << " column " << j;
    }
}

std::vector<int> SampleRows(int tokens, int n) {
  std::vector<int> rows(tokens);
  std::iota(rows.begin(), rows.end(), 0);
  if (tokens <= n) return rows;
  std::shuffle(rows.begin() + 1, rows.end() - 1, testing::TestRng());  // keep first and last
  std::swap(rows[n - 1], rows[tokens - 1]);
  rows.resize(n);
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<float> Gather(const std::vector<float>& all, const std::vector<int>& rows, int d) {
  std::vector<float> out;
  out.reserve(rows.size() * d);
  for (int r : rows)
    out.insert(out.end(), all.begin() + int64_t(r) * d, all.begin() + int64_t(r + 1) * d);
  return out;
}

// Checks every variant in `variants` on one routing. Rows: all against cpu::ref when
// exact_rows >= T, else `exact_rows` against cpu::ref and `fast_rows` against cpu::MoeExperts.
void CheckVariants(const Experts& ex, const Routes& r, const std::vector<MoeVariant>& variants,
                   int exact_rows, int fast_rows, const char* what) {
  const int d = ex.w.hidden;
  const Bf16Values x = testing::RandomBf16(size_t(r.tokens) * d);
  cuda::DeviceBuffer x_dev = testing::Upload(x.bits);
  const std::vector<int> exact = SampleRows(r.tokens, exact_rows);
  const std::vector<float> ref_exact = Reference(ex, x.floats, r, exact, true);
  std::vector<int> fast;
  std::vector<float> ref_fast;
  if (exact_rows < r.tokens) {
    fast = SampleRows(r.tokens, fast_rows);
    ref_fast = Reference(ex, x.floats, r, fast, false);
  }
  for (MoeVariant v : variants) {
    std::vector<float> out;
    RunGpu(ex.device->view(), x_dev, r, v, &out);
    if (::testing::Test::HasFatalFailure()) return;
    const size_t bad =
        std::count_if(out.begin(), out.end(), [](float f) { return !std::isfinite(f); });
    EXPECT_EQ(bad, 0u) << what << " " << cuda::MoeVariantName(v) << ": unwritten or non-finite";
    const double err = testing::RelativeError(Gather(out, exact, d), ref_exact);
    double err_fast = 0;
    if (!fast.empty()) err_fast = testing::RelativeError(Gather(out, fast, d), ref_fast);
    std::printf("%-28s T=%-5d %-9s rel err vs ref %.2e (%zu rows)", what, r.tokens,
                cuda::MoeVariantName(v), err, exact.size());
    if (!fast.empty()) std::printf(", vs cpu %.2e (%zu rows)", err_fast, fast.size());
    std::printf("\n");
    EXPECT_LE(err, kTolerance) << what << " T=" << r.tokens << " " << cuda::MoeVariantName(v);
    EXPECT_LE(err_fast, kTolerance) << what << " T=" << r.tokens << " " << cuda::MoeVariantName(v);
  }
}

// Whether the device runs the sm_90a code of this build (the kStreamTma kernel exists there).
bool Sm90aLoaded() {
  auto devices = cuda::QueryDevices();
  return devices.ok() && !devices->empty() && (*devices)[0].loaded_image_arch >= 900;
}

// Every MXFP4 variant this build can run here; where stream_tma cannot, it must say so.
// (Computed when first asked, inside a test: the CUDA runtime is not ready during static
// initialisation.)
const std::vector<MoeVariant>& Mxfp4Variants() {
  static const std::vector<MoeVariant> variants = [] {
    std::vector<MoeVariant> v = {MoeVariant::kAuto, MoeVariant::kDecode, MoeVariant::kStream,
                                 MoeVariant::kTiled64, MoeVariant::kTiled128};
    if (Sm90aLoaded()) v.push_back(MoeVariant::kStreamTma);
    return v;
  }();
  return variants;
}

TEST(CudaMoe, Mxfp4GptOssSizes) {
  for (int e : {32, 128}) {
    const Experts& ex = RealExperts(e);
    ASSERT_TRUE(ex.device);
    EXPECT_FALSE(ex.device->view().wide_scales);
    for (int tokens : {1, 4, 7, 23, 33, 256, 2048}) {
      const Routes r = RandomRoutes(tokens, 4, e);
      CheckVariants(ex, r, Mxfp4Variants(), tokens <= 4 ? tokens : 2, 128,
                    e == 32 ? "mxfp4 E=32 D=I=2880" : "mxfp4 E=128 D=I=2880");
    }
  }
}

// All tokens on the same 4 experts (one expert gets every token, in some slot), and routings
// confined to a few experts so most have none.
TEST(CudaMoe, Mxfp4SkewedRoutingAndIdleExperts) {
  const Experts& ex32 = RealExperts(32);
  ASSERT_TRUE(ex32.device);
  for (int tokens : {33, 300})
    CheckVariants(ex32, RandomRoutes(tokens, 4, 32, /*skew=*/true), Mxfp4Variants(), 1, 64,
                  "mxfp4 E=32 all on 0..3");
  const Experts& ex128 = RealExperts(128);
  ASSERT_TRUE(ex128.device);
  CheckVariants(ex128, RandomRoutes(64, 4, 6), Mxfp4Variants(), 1, 64, "mxfp4 E=128 on 6 experts");
}

// The tiny fixture's sizes (tests/data/gpt-oss-tiny-*: E = 8, D = 96, I = 160, k = 4): K and N
// not multiples of 64 or 128.
TEST(CudaMoe, Mxfp4TinySizes) {
  auto ex = MakeExperts(ops::ExpertFormat::kMxfp4, 8, 96, 160);
  ASSERT_TRUE(ex->device);
  for (int tokens : {1, 3, 37, 300}) {
    CheckVariants(*ex, RandomRoutes(tokens, 4, 8), Mxfp4Variants(), tokens, 0, "mxfp4 tiny");
    CheckVariants(*ex, RandomRoutes(tokens, 2, 8), Mxfp4Variants(), tokens, 0, "mxfp4 tiny k=2");
  }
}

// Scale bytes above 128 (and down to 100) switch the experts to the wide decode.
TEST(CudaMoe, Mxfp4WideScales) {
  for (auto [d, i] : {std::pair{96, 160}, std::pair{256, 64}}) {
    auto ex = MakeExperts(ops::ExpertFormat::kMxfp4, 6, d, i, 100, 135);
    ASSERT_TRUE(ex->device);
    EXPECT_TRUE(ex->device->view().wide_scales);
    for (int tokens : {1, 20, 90})
      CheckVariants(*ex, RandomRoutes(tokens, 4, 6), Mxfp4Variants(), tokens, 0,
                    "mxfp4 wide scales");
  }
}

// The router's top-k fused into the routing step (and, past kMoeFusedRouterMaxTokens, run as
// RouterTopK's kernel first): the same indices, weights and outputs, bit for bit, as RouterTopK
// followed by LaunchMoeExperts. Logits with planted exact ties (the lower index must win).
void CheckFromLogits(const cuda::MoeDeviceExperts& ex, int tokens, int k, MoeVariant variant) {
  SCOPED_TRACE(::testing::Message() << "E " << ex.num_experts << " T " << tokens << " k " << k
                                    << " " << cuda::MoeVariantName(variant));
  const int e = ex.num_experts;
  std::vector<float> logits = testing::RandomFloats(size_t(tokens) * e, -3.0f, 3.0f);
  for (int t = 0; t < tokens; t += 3) logits[size_t(t) * e + 1] = logits[size_t(t) * e];
  const Bf16Values x = testing::RandomBf16(size_t(tokens) * ex.hidden);
  cuda::DeviceBuffer d_x = testing::Upload(x.bits), d_logits = testing::Upload(logits);
  const size_t bytes = cuda::MoeWorkspaceBytes(tokens, k, e, ex.hidden, ex.intermediate);
  auto ws = cuda::DeviceBuffer::Allocate(bytes);
  ATOM_ASSERT_OK(ws.status());
  auto run = [&](bool fused, std::vector<int32_t>* idx, std::vector<float>* w,
                 std::vector<float>* out) {
    cuda::DeviceBuffer d_idx = testing::Poisoned<int32_t>(size_t(tokens) * k);
    cuda::DeviceBuffer d_w = testing::Poisoned<float>(size_t(tokens) * k);
    cuda::DeviceBuffer d_out = testing::Poisoned<float>(size_t(tokens) * ex.hidden);
    auto* xs = static_cast<const __nv_bfloat16*>(d_x.data());
    auto* ls = static_cast<const float*>(d_logits.data());
    auto* is = static_cast<int32_t*>(d_idx.data());
    auto* ps = static_cast<float*>(d_w.data());
    auto* os = static_cast<float*>(d_out.data());
    if (fused) {
      ATOM_ASSERT_OK(cuda::LaunchMoeExpertsFromLogits(ex, xs, tokens, ls, k, is, ps, os, ws->data(),
                                                      bytes, nullptr, variant));
    } else {
      ATOM_ASSERT_OK(cuda::RouterTopK(ls, tokens, e, k, is, ps, nullptr));
      ATOM_ASSERT_OK(cuda::LaunchMoeExperts(ex, xs, tokens, is, ps, k, os, ws->data(), bytes,
                                            nullptr, variant));
    }
    *idx = testing::Download<int32_t>(d_idx, size_t(tokens) * k);
    *w = testing::Download<float>(d_w, size_t(tokens) * k);
    *out = testing::Download<float>(d_out, size_t(tokens) * ex.hidden);
  };
  std::vector<int32_t> i1, i2;
  std::vector<float> w1, w2, o1, o2;
  run(true, &i1, &w1, &o1);
  run(false, &i2, &w2, &o2);
  EXPECT_EQ(i1, i2);
  EXPECT_EQ(w1, w2);
  EXPECT_EQ(o1, o2);
  for (float v : o1) ASSERT_TRUE(std::isfinite(v));
}

TEST(CudaMoe, RouterTopKFusedIntoRoutingStep) {
  for (int e : {32, 128}) {
    const Experts& ex = RealExperts(e);
    ASSERT_TRUE(ex.device);
    for (int tokens : {1, 5, cuda::kMoeFusedRouterMaxTokens, cuda::kMoeFusedRouterMaxTokens + 1})
      for (MoeVariant v : {MoeVariant::kStream, MoeVariant::kTiled64})
        CheckFromLogits(ex.device->view(), tokens, 4, v);
  }
  auto tiny = MakeExperts(ops::ExpertFormat::kMxfp4, 8, 96, 160);
  ASSERT_TRUE(tiny->device);
  CheckFromLogits(tiny->device->view(), 3, 8, MoeVariant::kAuto);  // k == E
  auto bf16 = MakeExperts(ops::ExpertFormat::kBf16, 8, 96, 160);
  ASSERT_TRUE(bf16->device);
  CheckFromLogits(bf16->device->view(), 7, 4, MoeVariant::kAuto);  // RouterTopK's kernel first
}

TEST(CudaMoe, Bf16Experts) {
  for (auto [e, d, i] : {std::tuple{8, 96, 160}, std::tuple{4, 256, 128}}) {
    auto ex = MakeExperts(ops::ExpertFormat::kBf16, e, d, i);
    ASSERT_TRUE(ex->device);
    for (int tokens : {1, 7, 40})
      CheckVariants(*ex, RandomRoutes(tokens, std::min(4, e), e),
                    {MoeVariant::kAuto, MoeVariant::kBf16Simple}, tokens, 0, "bf16 experts");
  }
}

// The whole block captured in a CUDA graph once, replayed on new routings written into the same
// device buffers: nothing in it may depend on host-side knowledge of the routing.
TEST(CudaMoe, GraphCaptureReplaysNewRoutings) {
  auto ex = MakeExperts(ops::ExpertFormat::kMxfp4, 8, 96, 160);
  ASSERT_TRUE(ex->device);
  const int tokens = 45, k = 4, d = 96;
  for (MoeVariant v : Mxfp4Variants()) {
    if (v == MoeVariant::kAuto || v == MoeVariant::kTiled128) continue;
    const Bf16Values x = testing::RandomBf16(size_t(tokens) * d);
    cuda::DeviceBuffer x_dev = testing::Upload(x.bits);
    Routes r = RandomRoutes(tokens, k, 8);
    cuda::DeviceBuffer indices = testing::Upload(r.indices);
    cuda::DeviceBuffer weights = testing::Upload(r.weights);
    cuda::DeviceBuffer out = testing::Poisoned<float>(size_t(tokens) * d);
    const size_t bytes = cuda::MoeWorkspaceBytes(tokens, k, 8, d, 160);
    auto workspace = cuda::DeviceBuffer::Allocate(bytes);
    ATOM_ASSERT_OK(workspace.status());
    cudaStream_t stream;
    ATOM_ASSERT_CUDA(cudaStreamCreate(&stream));
    cudaGraph_t graph;
    ATOM_ASSERT_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    const Status launched = cuda::LaunchMoeExperts(
        ex->device->view(), static_cast<const __nv_bfloat16*>(x_dev.data()), tokens,
        static_cast<const int32_t*>(indices.data()), static_cast<const float*>(weights.data()), k,
        static_cast<float*>(out.data()), workspace->data(), bytes, stream, v);
    ATOM_ASSERT_CUDA(cudaStreamEndCapture(stream, &graph));
    ATOM_ASSERT_OK(launched);
    cudaGraphExec_t exec;
    ATOM_ASSERT_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    for (int round = 0; round < 3; ++round) {
      r = RandomRoutes(tokens, k, round == 1 ? 2 * k : 8, /*skew=*/round == 2);
      ATOM_ASSERT_CUDA(cudaMemcpy(indices.data(), r.indices.data(), r.indices.size() * 4,
                                  cudaMemcpyHostToDevice));
      ATOM_ASSERT_CUDA(cudaMemcpy(weights.data(), r.weights.data(), r.weights.size() * 4,
                                  cudaMemcpyHostToDevice));
      ATOM_ASSERT_CUDA(cudaMemset(out.data(), 0xFF, out.size()));
      ATOM_ASSERT_CUDA(cudaGraphLaunch(exec, stream));
      ATOM_ASSERT_CUDA(cudaStreamSynchronize(stream));
      const std::vector<float> got = testing::Download<float>(out, size_t(tokens) * d);
      std::vector<int> rows(tokens);
      std::iota(rows.begin(), rows.end(), 0);
      const double err = testing::RelativeError(got, Reference(*ex, x.floats, r, rows, true));
      EXPECT_LE(err, kTolerance) << cuda::MoeVariantName(v) << " replay " << round;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
  }
}

TEST(CudaMoe, RejectsBadArguments) {
  auto mx = MakeExperts(ops::ExpertFormat::kMxfp4, 8, 96, 160);
  auto bf = MakeExperts(ops::ExpertFormat::kBf16, 8, 96, 160);
  ASSERT_TRUE(mx->device && bf->device);
  cuda::DeviceBuffer buf = testing::Poisoned<float>(1 << 20);
  auto* p = static_cast<float*>(buf.data());
  const auto* x = reinterpret_cast<const __nv_bfloat16*>(p);
  const auto* idx = reinterpret_cast<const int32_t*>(p);
  const size_t bytes = cuda::MoeWorkspaceBytes(4, 4, 8, 96, 160);
  auto launch = [&](const cuda::MoeDeviceExperts& ex, int k, size_t ws, MoeVariant v) {
    return cuda::LaunchMoeExperts(ex, x, 4, idx, p, k, p, p + (1 << 19), ws, nullptr, v);
  };
  EXPECT_FALSE(cuda::MoeSupports(MoeVariant::kDecode, bf->device->view()));
  EXPECT_FALSE(cuda::MoeSupports(MoeVariant::kBf16Simple, mx->device->view()));
  EXPECT_EQ(launch(bf->device->view(), 4, bytes, MoeVariant::kDecode).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch(mx->device->view(), 4, bytes, MoeVariant::kBf16Simple).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch(mx->device->view(), 4, bytes - 1, MoeVariant::kAuto).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch(mx->device->view(), 9, bytes, MoeVariant::kAuto).code(),
            StatusCode::kInvalidArgument);
  ops::ExpertWeights bad = mx->w;
  bad.hidden = 80;
  EXPECT_FALSE(cuda::UploadMoeExperts(bad).ok());
  // Without sm_90a code (the portable build, or not Hopper) the tuned kernel refuses to run.
  if (!Sm90aLoaded())
    EXPECT_EQ(launch(mx->device->view(), 4, bytes, MoeVariant::kStreamTma).code(),
              StatusCode::kUnimplemented);
  EXPECT_EQ(cuda::moe::StreamTmaSharedBytes(), ops::kMoeStreamTmaSharedBytes);
  EXPECT_EQ(cuda::SelectMoeVariant(mx->device->view(), 1, 4), MoeVariant::kStream);
  EXPECT_EQ(cuda::SelectMoeVariant(mx->device->view(), 1, 4, MoeVariant::kDecode),
            MoeVariant::kDecode);
  EXPECT_EQ(cuda::SelectMoeVariant(bf->device->view(), 1, 4), MoeVariant::kBf16Simple);
}

}  // namespace
}  // namespace atom
