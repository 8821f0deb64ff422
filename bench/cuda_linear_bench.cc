// GPU time of CublasLtLinear on gpt-oss's dense layers: qkv (2880 -> 5120, bias, bf16 out),
// o (4096 -> 2880, bias, bf16 out), router (2880 -> 128, bias, f32 out) and unembedding
// (2880 -> 201,088, f32 logits), at T = 1 and 8 (decode: weight-bandwidth bound, read GB/s),
// 64 and 4096 (prefill: TFLOP/s), next to BM_GemmCeiling (8192^3, bf16). Weights, inputs and
// outputs rotate among sets larger than L2.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/cublaslt_linear.h"
#include "backends/cuda/device_buffer.h"
#include "cuda_event_timer.h"

namespace atom::cuda {
namespace {

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

CublasLtLinear* Linear() {
  static std::unique_ptr<CublasLtLinear> linear = [] {
    auto l = CublasLtLinear::Create();
    return l.ok() ? std::move(l).value() : nullptr;
  }();
  return linear.get();
}

// Random bf16 values in [-1, 1] (never zeros: they can time faster than data).
DeviceBuffer RandomBf16Device(size_t count) {
  auto b = DeviceBuffer::Allocate(count * 2);
  if (!b.ok()) return {};
  std::vector<uint16_t> host(count);
  uint64_t state = std::random_device{}();
  for (auto& h : host) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const float f = float((state >> 40) & 0xFFFF) / 32768.0f - 1.0f;
    uint32_t u;
    std::memcpy(&u, &f, 4);
    h = uint16_t(u >> 16);
  }
  cudaMemcpy(b->data(), host.data(), count * 2, cudaMemcpyHostToDevice);
  return std::move(b).value();
}

enum Layer { kQkv, kO, kRouter, kUnembedding, kCeiling };
struct Shape {
  const char* name;
  int64_t in, out;
  bool bias;
  DType out_dtype;
};
constexpr Shape kShapes[] = {{"qkv", 2880, 5120, true, DType::kBF16},
                             {"o", 4096, 2880, true, DType::kBF16},
                             {"router", 2880, 128, true, DType::kF32},
                             {"unembedding", 2880, 201088, false, DType::kF32},
                             {"ceiling", 8192, 8192, false, DType::kBF16}};

// range(0): layer, range(1): T.
void BM_Linear(benchmark::State& state) {
  const Shape& shape = kShapes[state.range(0)];
  const int64_t T = state.range(1);
  CublasLtLinear* linear = Linear();
  if (linear == nullptr) return state.SkipWithError("no cuBLASLt");
  const int out_bytes = shape.out_dtype == DType::kF32 ? 4 : 2;
  const double weight_bytes = 2.0 * shape.in * shape.out;
  const double bytes = weight_bytes + 2.0 * T * shape.in + double(out_bytes) * T * shape.out +
                       (shape.bias ? 2.0 * shape.out : 0);
  const double flops = 2.0 * T * shape.in * shape.out;
  const int sets = RotatingSets(bytes, 8);
  std::vector<DeviceBuffer> w, b, x, out;
  for (int s = 0; s < sets; ++s) {
    w.push_back(RandomBf16Device(shape.in * shape.out));
    b.push_back(shape.bias ? RandomBf16Device(shape.out) : DeviceBuffer());
    x.push_back(RandomBf16Device(T * shape.in));
    out.push_back(RandomBf16Device(T * shape.out * out_bytes / 2));
  }
  auto tensors = [&](int s) {
    return std::tuple(x[s].View(DType::kBF16, {T, shape.in}),
                      w[s].View(DType::kBF16, {shape.out, shape.in}),
                      shape.bias ? b[s].View(DType::kBF16, {shape.out}) : Tensor(),
                      out[s].View(shape.out_dtype, {T, shape.out}));
  };
  TimeOnGpu(state, Stream(), T >= 4096 ? 3 : 10, [&](int64_t i) {
    auto [xs, ws, bs, os] = tensors(int(i % sets));
    return linear->Linear(xs, ws, bs, os, Stream());
  });
  ReportRates(state, bytes, flops);
  auto [xs, ws, bs, os] = tensors(0);
  auto fused = linear->FusesBias(xs, ws, bs, os);
  state.SetLabel(std::string(shape.name) +
                 (shape.bias && fused.ok() && !*fused ? " (bias unfused)" : ""));
}
BENCHMARK(BM_Linear)
    ->ArgsProduct({{kQkv, kO, kRouter, kUnembedding}, {1, 8, 64, 4096}})
    ->Args({kCeiling, 8192})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace atom::cuda
