// The CUDA MoE block (backends/cuda/moe.h) at gpt-oss sizes: D = I = 2880, k = 4, E = 32 (20b)
// or 128 (120b), MXFP4 experts, random routings (a fresh one per call, cycling through 16, so
// decode reads experts that are not in L2).
//   decode (T = 1, 8, 64): GB/s of expert weight bytes read (device layout: codes + scales of
//     every routed expert, its 4-quad padding included) — compare with BM_CudaDeviceCopy;
//   prefill (T = 1024, 8192): TFLOP/s of the expert GEMMs, 2·T·k·(2I·D + D·I).
// Times are CUDA-event times of batches of calls (manual time).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/moe.h"
#include "backends/cuda/moe_experts_upload.h"
#include "backends/cuda/moe_kernels.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace atom {
namespace {

constexpr int kDim = 2880, kTopK = 4, kRoutings = 16;

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
}
void CheckCuda(cudaError_t e) { Check(cuda::CudaStatusOf(e, "cuda")); }

void FillRandom(uint8_t* p, size_t n, uint64_t seed, uint32_t lo, uint32_t span) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t r = uint32_t(s >> 33);
    p[i] = uint8_t(span >= 256 ? r : lo + r % span);
  }
}

bool Sm90aLoaded() {
  auto devices = cuda::QueryDevices();
  return devices.ok() && !devices->empty() && (*devices)[0].loaded_image_arch >= 900;
}

struct Layer {
  std::unique_ptr<cuda::MoeExpertsOnDevice> device;
  size_t expert_bytes = 0;  // device codes + scales of one expert (both matrices)
};

const Layer& GetLayer(int experts) {
  static std::map<int, Layer> layers;
  Layer& layer = layers[experts];
  if (layer.device) return layer;
  const int e = experts, d = kDim, i = kDim;
  HostTensor gb(DType::kU8, {e, 2 * i, d / 32, 16}), gs(DType::kU8, {e, 2 * i, d / 32});
  HostTensor db(DType::kU8, {e, d, i / 32, 16}), ds(DType::kU8, {e, d, i / 32});
  HostTensor b1(DType::kBF16, {e, 2 * i}), b2(DType::kBF16, {e, d});
  FillRandom(gb.data<uint8_t>(), gb.numel(), 1, 0, 256);
  FillRandom(db.data<uint8_t>(), db.numel(), 2, 0, 256);
  FillRandom(gs.data<uint8_t>(), gs.numel(), 3, 119, 4);
  FillRandom(ds.data<uint8_t>(), ds.numel(), 4, 119, 4);
  for (int64_t j = 0; j < b1.numel(); ++j) b1.data<uint16_t>()[j] = FloatToBf16(0.01f * (j % 7));
  for (int64_t j = 0; j < b2.numel(); ++j) b2.data<uint16_t>()[j] = FloatToBf16(0.01f * (j % 5));
  ops::ExpertWeights w;
  w.num_experts = e;
  w.hidden = d;
  w.intermediate = i;
  w.gate_up_blocks = gb;
  w.gate_up_scales = gs;
  w.down_blocks = db;
  w.down_scales = ds;
  w.gate_up_bias = b1;
  w.down_bias = b2;
  auto uploaded = cuda::UploadMoeExperts(w);
  Check(uploaded.status());
  layer.device = std::make_unique<cuda::MoeExpertsOnDevice>(std::move(*uploaded));
  const size_t quads = (kDim / 32 + 3) / 4;
  layer.expert_bytes = size_t(3) * kDim * quads * (64 + 4);  // 2I + D rows, 68 B per row-quad
  return layer;
}

// kRoutings random routings of T tokens on the device, and the mean number of distinct experts.
struct Routings {
  std::vector<cuda::DeviceBuffer> indices, weights;
  double mean_distinct = 0;
};

Routings MakeRoutings(int tokens, int experts) {
  Routings r;
  std::mt19937 rng(tokens * 131 + experts);
  std::vector<int32_t> perm(experts);
  for (int n = 0; n < kRoutings; ++n) {
    std::vector<int32_t> idx(size_t(tokens) * kTopK);
    std::vector<float> w(idx.size(), 1.0f / kTopK);
    std::set<int32_t> distinct;
    for (int t = 0; t < tokens; ++t) {
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      std::copy_n(perm.begin(), kTopK, idx.begin() + t * kTopK);
      distinct.insert(perm.begin(), perm.begin() + kTopK);
    }
    r.mean_distinct += double(distinct.size()) / kRoutings;
    auto ib = cuda::DeviceBuffer::Allocate(idx.size() * 4);
    auto wb = cuda::DeviceBuffer::Allocate(w.size() * 4);
    Check(ib.status());
    Check(wb.status());
    CheckCuda(cudaMemcpy(ib->data(), idx.data(), idx.size() * 4, cudaMemcpyHostToDevice));
    CheckCuda(cudaMemcpy(wb->data(), w.data(), w.size() * 4, cudaMemcpyHostToDevice));
    r.indices.push_back(std::move(*ib));
    r.weights.push_back(std::move(*wb));
  }
  return r;
}

// Args: experts, tokens, variant.
void BM_CudaMoe(benchmark::State& state) {
  const int experts = int(state.range(0)), tokens = int(state.range(1));
  const auto variant = static_cast<cuda::MoeVariant>(state.range(2));
  const Layer& layer = GetLayer(experts);
  const cuda::MoeDeviceExperts& ex = layer.device->view();
  const cuda::MoeVariant resolved =
      variant == cuda::MoeVariant::kAuto ? cuda::SelectMoeVariant(ex, tokens, kTopK) : variant;
  state.SetLabel(cuda::MoeVariantName(resolved));
  if (resolved == cuda::MoeVariant::kStreamTma && !Sm90aLoaded()) {
    state.SkipWithError("stream_tma needs sm_90a code");
    return;
  }
  const Routings routings = MakeRoutings(tokens, experts);
  std::vector<uint16_t> x(size_t(tokens) * kDim);
  for (size_t j = 0; j < x.size(); ++j) x[j] = FloatToBf16(float(int(j % 17) - 8) / 8.0f);
  auto x_dev = cuda::DeviceBuffer::Allocate(x.size() * 2);
  auto out = cuda::DeviceBuffer::Allocate(size_t(tokens) * kDim * 4);
  const size_t ws_bytes = cuda::MoeWorkspaceBytes(tokens, kTopK, experts, kDim, kDim);
  auto ws = cuda::DeviceBuffer::Allocate(ws_bytes);
  Check(x_dev.status());
  Check(out.status());
  Check(ws.status());
  CheckCuda(cudaMemcpy(x_dev->data(), x.data(), x.size() * 2, cudaMemcpyHostToDevice));
  auto launch = [&](int n) {
    Check(cuda::LaunchMoeExperts(ex, static_cast<const __nv_bfloat16*>(x_dev->data()), tokens,
                                 static_cast<const int32_t*>(routings.indices[n].data()),
                                 static_cast<const float*>(routings.weights[n].data()), kTopK,
                                 static_cast<float*>(out->data()), ws->data(), ws_bytes, nullptr,
                                 variant));
  };
  for (int n = 0; n < kRoutings; ++n) launch(n);  // warm up
  CheckCuda(cudaDeviceSynchronize());
  const int batch = tokens >= 1024 ? 2 : kRoutings;
  cudaEvent_t start, stop;
  CheckCuda(cudaEventCreate(&start));
  CheckCuda(cudaEventCreate(&stop));
  int next = 0;
  for (auto _ : state) {
    CheckCuda(cudaEventRecord(start));
    for (int b = 0; b < batch; ++b) launch(next++ % kRoutings);
    CheckCuda(cudaEventRecord(stop));
    CheckCuda(cudaEventSynchronize(stop));
    float ms = 0;
    CheckCuda(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3 / batch);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  const double weight_bytes = routings.mean_distinct * double(layer.expert_bytes);
  const double flops = 2.0 * tokens * kTopK * 3.0 * kDim * double(kDim);
  state.counters["experts_read"] = routings.mean_distinct;
  state.counters["weight_GB/s"] =
      benchmark::Counter(weight_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["TFLOP/s"] =
      benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

constexpr int64_t V(cuda::MoeVariant v) { return int64_t(v); }

void DecodeArgs(benchmark::internal::Benchmark* b) {
  for (int e : {32, 128})
    for (int t : {1, 8, 64})
      for (auto v : {cuda::MoeVariant::kAuto, cuda::MoeVariant::kDecode, cuda::MoeVariant::kStream,
                     cuda::MoeVariant::kStreamTma, cuda::MoeVariant::kTiled64})
        if (!(t == 1 && v == cuda::MoeVariant::kTiled64)) b->Args({e, t, V(v)});
}
// Where decode hands over to the tiled GEMMs.
void CrossoverArgs(benchmark::internal::Benchmark* b) {
  for (int e : {32, 128})
    for (int t : {128, 256, 1024})
      for (auto v : {cuda::MoeVariant::kDecode, cuda::MoeVariant::kStream,
                     cuda::MoeVariant::kTiled64})
        b->Args({e, t, V(v)});
}
void PrefillArgs(benchmark::internal::Benchmark* b) {
  for (int e : {32, 128})
    for (int t : {1024, 8192})
      for (auto v : {cuda::MoeVariant::kTiled64, cuda::MoeVariant::kTiled128})
        b->Args({e, t, V(v)});
}
BENCHMARK(BM_CudaMoe)
    ->Name("BM_CudaMoeDecode")
    ->Apply(DecodeArgs)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.1);
BENCHMARK(BM_CudaMoe)
    ->Name("BM_CudaMoeCrossover")
    ->Apply(CrossoverArgs)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.1);
BENCHMARK(BM_CudaMoe)
    ->Name("BM_CudaMoePrefill")
    ->Apply(PrefillArgs)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.1);

// One stage of the decode variant alone (0 routing, 1 W1 + SwiGLU, 2 W2, 3 combine), over
// kRoutings routings prepared in their own workspaces. Args: experts, tokens, stage, variant
// (decode, stream or stream_tma).
void BM_CudaMoeDecodeStage(benchmark::State& state) {
  const int experts = int(state.range(0)), tokens = int(state.range(1)),
            stage = int(state.range(2));
  const auto variant = cuda::MoeVariant(state.range(3));
  const char* names[] = {"routing", "W1+SwiGLU", "W2", "combine"};
  state.SetLabel(std::string(names[stage]) + " " + cuda::MoeVariantName(variant));
  if (variant == cuda::MoeVariant::kStreamTma && !Sm90aLoaded()) {
    state.SkipWithError("stream_tma needs sm_90a code");
    return;
  }
  auto gemm = [&](const cuda::moe::GemmArgs& g) {
    switch (variant) {
      case cuda::MoeVariant::kDecode:
        return cuda::moe::LaunchDecodeGemm(g, nullptr);
      case cuda::MoeVariant::kStreamTma:
        return cuda::moe::LaunchStreamTmaGemm(g, nullptr);
      default:
        return cuda::moe::LaunchStreamGemm(g, nullptr);
    }
  };
  const Layer& layer = GetLayer(experts);
  const cuda::MoeDeviceExperts& ex = layer.device->view();
  const Routings routings = MakeRoutings(tokens, experts);
  std::vector<uint16_t> x(size_t(tokens) * kDim, FloatToBf16(0.25f));
  auto x_dev = cuda::DeviceBuffer::Allocate(x.size() * 2);
  auto out = cuda::DeviceBuffer::Allocate(size_t(tokens) * kDim * 4);
  Check(x_dev.status());
  Check(out.status());
  CheckCuda(cudaMemcpy(x_dev->data(), x.data(), x.size() * 2, cudaMemcpyHostToDevice));
  const size_t ws_bytes = cuda::MoeWorkspaceBytes(tokens, kTopK, experts, kDim, kDim);
  std::vector<cuda::DeviceBuffer> ws;
  for (int n = 0; n < kRoutings; ++n) {
    auto b = cuda::DeviceBuffer::Allocate(ws_bytes);
    Check(b.status());
    ws.push_back(std::move(*b));
    // A full decode call leaves this routing's tables, activations and outputs in ws[n].
    Check(cuda::LaunchMoeExperts(ex, static_cast<const __nv_bfloat16*>(x_dev->data()), tokens,
                                 static_cast<const int32_t*>(routings.indices[n].data()),
                                 static_cast<const float*>(routings.weights[n].data()), kTopK,
                                 static_cast<float*>(out->data()), ws[n].data(), ws_bytes, nullptr,
                                 cuda::MoeVariant::kDecode));
  }
  CheckCuda(cudaDeviceSynchronize());
  // The workspace carving of moe.cu, recomputed here: tables, then activations, then outputs.
  auto carve = [&](int n) {
    uint8_t* p = static_cast<uint8_t*>(ws[n].data());
    auto take = [&](size_t bytes) {
      uint8_t* r = p;
      p += (bytes + 255) / 256 * 256;
      return r;
    };
    cuda::moe::Routing r;
    r.offsets = reinterpret_cast<int32_t*>(take((experts + 1) * 4));
    r.tile_offsets = reinterpret_cast<int32_t*>(take((experts + 1) * 4));
    r.active = reinterpret_cast<int32_t*>(take(experts * 4));
    r.num_active = reinterpret_cast<int32_t*>(take(4));
    r.slots = reinterpret_cast<int4*>(take(experts * 16));
    r.sorted = reinterpret_cast<int32_t*>(take(size_t(tokens) * kTopK * 4));
    auto* act = reinterpret_cast<__nv_bfloat16*>(take(size_t(tokens) * kTopK * kDim * 2));
    auto* y = reinterpret_cast<float*>(take(size_t(tokens) * kTopK * kDim * 4));
    return std::tuple{r, act, y};
  };
  auto launch = [&](int n) {
    auto [r, act, y] = carve(n);
    cuda::moe::GemmArgs g;
    g.num_experts = experts;
    g.k = kTopK;
    g.tokens = tokens;
    g.offsets = r.offsets;
    g.tile_offsets = r.tile_offsets;
    g.active = r.active;
    g.num_active = r.num_active;
    g.slots = r.slots;
    g.sorted = r.sorted;
    switch (stage) {
      case 0:
        Check(cuda::moe::LaunchRouting(static_cast<const int32_t*>(routings.indices[n].data()),
                                       tokens * kTopK, experts, 128, r, nullptr));
        break;
      case 1:
        g.gate_up = true;
        g.codes = ex.gate_up_codes;
        g.scales = ex.gate_up_scales;
        g.bias = ex.gate_up_bias;
        g.rows = 2 * kDim;
        g.cols = kDim;
        g.in = static_cast<const __nv_bfloat16*>(x_dev->data());
        g.act = act;
        Check(gemm(g));
        break;
      case 2:
        g.gate_up = false;
        g.codes = ex.down_codes;
        g.scales = ex.down_scales;
        g.bias = ex.down_bias;
        g.rows = kDim;
        g.cols = kDim;
        g.in = act;
        g.y = y;
        Check(gemm(g));
        break;
      default:
        Check(cuda::moe::LaunchCombine(y, static_cast<const float*>(routings.weights[n].data()),
                                       tokens, kTopK, kDim, static_cast<float*>(out->data()),
                                       nullptr));
    }
  };
  cudaEvent_t start, stop;
  CheckCuda(cudaEventCreate(&start));
  CheckCuda(cudaEventCreate(&stop));
  int next = 0;
  for (auto _ : state) {
    CheckCuda(cudaEventRecord(start));
    for (int b = 0; b < kRoutings; ++b) launch(next++ % kRoutings);
    CheckCuda(cudaEventRecord(stop));
    CheckCuda(cudaEventSynchronize(stop));
    float ms = 0;
    CheckCuda(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3 / kRoutings);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  const double share = stage == 1 ? 2.0 / 3 : stage == 2 ? 1.0 / 3 : 0.0;
  state.counters["weight_GB/s"] =
      benchmark::Counter(share * routings.mean_distinct * double(layer.expert_bytes) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CudaMoeDecodeStage)
    ->ArgsProduct({{128},
                   {1, 8},
                   {0, 1, 2, 3},
                   {V(cuda::MoeVariant::kDecode), V(cuda::MoeVariant::kStream),
                    V(cuda::MoeVariant::kStreamTma)}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.1);

// The bandwidth ceiling: a 1 GiB device-to-device copy, bytes read + written per second.
void BM_CudaDeviceCopy(benchmark::State& state) {
  const size_t bytes = size_t(1) << 30;
  auto a = cuda::DeviceBuffer::Allocate(bytes), b = cuda::DeviceBuffer::Allocate(bytes);
  Check(a.status());
  Check(b.status());
  cudaEvent_t start, stop;
  CheckCuda(cudaEventCreate(&start));
  CheckCuda(cudaEventCreate(&stop));
  CheckCuda(cudaMemcpy(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice));
  for (auto _ : state) {
    CheckCuda(cudaEventRecord(start));
    CheckCuda(cudaMemcpyAsync(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice));
    CheckCuda(cudaEventRecord(stop));
    CheckCuda(cudaEventSynchronize(stop));
    float ms = 0;
    CheckCuda(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CudaDeviceCopy)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.1);

}  // namespace
}  // namespace atom
