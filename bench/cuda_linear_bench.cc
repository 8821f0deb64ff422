// GPU time of CublasLtLinear on gpt-oss's dense layers: qkv (2880 -> 5120, bias, bf16 out),
// o (4096 -> 2880, bias, bf16 out), router (2880 -> 128, bias, f32 out) and unembedding
// (2880 -> 201,088, f32 logits), at T = 1 and 8 (decode: weight-bandwidth bound, read GB/s),
// 64 and 4096 (prefill: TFLOP/s), next to BM_GemmCeiling (8192^3, bf16). Weights, inputs and
// outputs rotate among sets larger than L2. BM_DenseGemv: the same decode shapes through
// DenseGemv (dense_gemv.h), the kernel the model uses for steps of <= 8 tokens.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cuda/cublaslt_linear.h"
#include "backends/cuda/dense_gemv.h"
#include "backends/cuda/device_buffer.h"
#include "cuda_event_timer.h"

namespace atom::cuda {
namespace {

using bench::RandomDevice;
using bench::ReportRates;
using bench::RotatingSets;
using bench::TimeOnGpu;

cudaStream_t Stream() {
  static cudaStream_t s = [] {
    cudaStream_t st;
    cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    return st;
  }();
  return s;
}

// One instance for the heuristic's choices, one for tuned plans (which would otherwise replace
// the heuristic's in the shared plan cache).
CublasLtLinear* Linear(bool tuned) {
  auto make = [] {
    auto l = CublasLtLinear::Create();
    return l.ok() ? std::move(l).value() : nullptr;
  };
  static std::unique_ptr<CublasLtLinear> heuristic = make(), tuned_linear = make();
  return tuned ? tuned_linear.get() : heuristic.get();
}

enum Layer { kQkv, kO, kRouter, kRouterF32Bias, kUnembedding, kCeiling };
struct Shape {
  const char* name;
  int64_t in, out;
  bool bias;
  DType bias_dtype, out_dtype;
};
// The router's checkpoint bias is bf16; cuBLASLt fuses only an f32 bias into f32 logits, so the
// second router row shows what converting the bias once at load buys.
constexpr Shape kShapes[] = {{"qkv", 2880, 5120, true, DType::kBF16, DType::kBF16},
                             {"o", 4096, 2880, true, DType::kBF16, DType::kBF16},
                             {"router", 2880, 128, true, DType::kBF16, DType::kF32},
                             {"router_f32_bias", 2880, 128, true, DType::kF32, DType::kF32},
                             {"unembedding", 2880, 201088, false, DType::kBF16, DType::kF32},
                             {"ceiling", 8192, 8192, false, DType::kBF16, DType::kBF16}};

// Weight and bias copies per layer, kept across the T cases (the unembedding is 1.16 GB).
struct LayerWeights {
  std::vector<DeviceBuffer> weight, bias;
};
LayerWeights& WeightsFor(int layer, int sets) {
  static std::map<int, LayerWeights> cache;
  LayerWeights& lw = cache[layer];
  const Shape& shape = kShapes[layer];
  while (int(lw.weight.size()) < sets) {
    lw.weight.push_back(RandomDevice(size_t(shape.in) * shape.out * 2));
    lw.bias.push_back(shape.bias ? RandomDevice(size_t(shape.out) * 4) : DeviceBuffer());
  }
  return lw;
}

// range(0): layer, range(1): T, range(2): 1 = CublasLtLinear::Tune first.
void BM_Linear(benchmark::State& state) {
  const Shape& shape = kShapes[state.range(0)];
  const int64_t T = state.range(1);
  const bool tuned = state.range(2) != 0;
  CublasLtLinear* linear = Linear(tuned);
  if (linear == nullptr) return state.SkipWithError("no cuBLASLt");
  const int out_bytes = shape.out_dtype == DType::kF32 ? 4 : 2;
  const double weight_bytes = 2.0 * shape.in * shape.out;
  const double bytes = weight_bytes + 2.0 * T * shape.in + double(out_bytes) * T * shape.out +
                       (shape.bias ? (shape.bias_dtype == DType::kF32 ? 4.0 : 2.0) * shape.out : 0);
  const double flops = 2.0 * T * shape.in * shape.out;
  const int sets = RotatingSets(bytes, 8);
  LayerWeights& lw = WeightsFor(int(state.range(0)), sets);
  std::vector<DeviceBuffer> x, out;
  for (int s = 0; s < sets; ++s) {
    x.push_back(RandomDevice(size_t(T) * shape.in * 2));
    out.push_back(RandomDevice(size_t(T) * shape.out * out_bytes));
  }
  auto tensors = [&](int s) {
    return std::tuple(x[s].View(DType::kBF16, {T, shape.in}),
                      lw.weight[s].View(DType::kBF16, {shape.out, shape.in}),
                      shape.bias ? lw.bias[s].View(shape.bias_dtype, {shape.out}) : Tensor(),
                      out[s].View(shape.out_dtype, {T, shape.out}));
  };
  int chosen = 0;
  if (tuned) {
    auto [xs, ws, bs, os] = tensors(0);
    auto c = linear->Tune(xs, ws, bs, os, Stream());
    if (!c.ok()) return state.SkipWithError(c.status().ToString().c_str());
    chosen = *c;
  }
  const double seconds =
      TimeOnGpu(state, Stream(), T >= 4096 ? 3 : std::max(10, sets), [&](int64_t i) {
        auto [xs, ws, bs, os] = tensors(int(i % sets));
        return linear->Linear(xs, ws, bs, os, Stream());
      });
  ReportRates(state, seconds, bytes, flops);
  auto [xs, ws, bs, os] = tensors(0);
  auto fused = linear->FusesBias(xs, ws, bs, os);
  state.SetLabel(std::string(shape.name) +
                 (shape.bias && fused.ok() && !*fused ? " (bias unfused)" : "") +
                 (tuned ? " tuned: candidate " + std::to_string(chosen) : ""));
}
BENCHMARK(BM_Linear)
    ->ArgsProduct({{kQkv, kO, kRouter, kRouterF32Bias, kUnembedding}, {1, 8, 64, 4096}, {0, 1}})
    ->Args({kCeiling, 8192, 0})
    ->Args({kCeiling, 8192, 1})
    ->UseManualTime()
    ->MinTime(0.02)
    ->Unit(benchmark::kMicrosecond);

// range(0): layer, range(1): T, range(2): split (0 = DenseGemv's own choice).
void BM_DenseGemv(benchmark::State& state) {
  const Shape& shape = kShapes[state.range(0)];
  const int64_t T = state.range(1);
  const int out_bytes = shape.out_dtype == DType::kF32 ? 4 : 2;
  const double bytes = 2.0 * shape.in * shape.out + 2.0 * T * shape.in +
                       double(out_bytes) * T * shape.out +
                       (shape.bias ? (shape.bias_dtype == DType::kF32 ? 4.0 : 2.0) * shape.out : 0);
  const int sets = RotatingSets(bytes, 8);
  LayerWeights& lw = WeightsFor(int(state.range(0)), sets);
  std::vector<DeviceBuffer> x, out;
  for (int s = 0; s < sets; ++s) {
    x.push_back(RandomDevice(size_t(T) * shape.in * 2));
    out.push_back(RandomDevice(size_t(T) * shape.out * out_bytes));
  }
  const double seconds = TimeOnGpu(state, Stream(), std::max(10, sets), [&](int64_t i) {
    const int s = int(i % sets);
    DenseGemvArgs a;
    a.x = static_cast<const __nv_bfloat16*>(x[s].data());
    a.x_stride = shape.in;
    a.weight = static_cast<const __nv_bfloat16*>(lw.weight[s].data());
    a.bias = shape.bias ? lw.bias[s].data() : nullptr;
    a.bias_dtype = shape.bias_dtype == DType::kF32 ? GemvDType::kF32 : GemvDType::kBf16;
    a.out = out[s].data();
    a.out_dtype = shape.out_dtype == DType::kF32 ? GemvDType::kF32 : GemvDType::kBf16;
    a.out_stride = shape.out;
    a.tokens = int(T);
    a.in = int(shape.in);
    a.out_features = int(shape.out);
    a.split = int(state.range(2));
    return DenseGemv(a, Stream());
  });
  ReportRates(state, seconds, bytes, 2.0 * T * shape.in * shape.out);
  state.SetLabel(std::string(shape.name) + " split " + std::to_string(state.range(2)));
}
BENCHMARK(BM_DenseGemv)
    ->ArgsProduct({{kQkv, kO, kRouterF32Bias, kUnembedding}, {1, 2, 4, 8}, {0, 1, 4}})
    ->UseManualTime()
    ->MinTime(0.02)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace atom::cuda
