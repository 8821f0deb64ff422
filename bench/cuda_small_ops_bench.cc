// GPU time of the small gpt-oss ops at real sizes (hidden 2880, 64 query / 8 KV heads of 64,
// vocabulary 201,088, 128 experts), with achieved GB/s next to the device's copy ceiling
// (BM_CopyCeiling: a large device-to-device copy, bytes read plus written). Inputs rotate
// among sets larger than L2, so every launch reads DRAM. Small T is latency-bound: read the time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/embedding.h"
#include "backends/cuda/rms_norm.h"
#include "backends/cuda/rope_kv.h"
#include "backends/cuda/router.h"
#include "backends/cuda/sampling.h"
#include "cuda_event_timer.h"

namespace atom::cuda {
namespace {

using bench::RandomDevice;
using bench::ReportRates;
using bench::RotatingSets;
using bench::TimeOnGpu;
using bench::UploadVector;

constexpr int64_t kVocab = 201088, kHidden = 2880, kQHeads = 64, kKvHeads = 8, kHeadDim = 64;
// Launches per captured graph: at least 20, and every rotating set once.
int Batch(int sets) { return std::max(20, sets); }
constexpr double kMinTime = 0.01;  // seconds of GPU time per case (wall: that times the batch)

cudaStream_t Stream() {
  static cudaStream_t s = [] {
    cudaStream_t st;
    cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    return st;
  }();
  return s;
}

void BM_CopyCeiling(benchmark::State& state) {
  const size_t bytes = size_t(1) << 30;
  DeviceBuffer a = RandomDevice(bytes), b = RandomDevice(bytes);
  const double seconds = TimeOnGpu(
      state, Stream(), 5,
      [&](int64_t) {
        return CudaStatusOf(
            cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, Stream()),
            "cudaMemcpyAsync");
      },
      /*capture=*/false);
  ReportRates(state, seconds, 2.0 * bytes);
  state.SetLabel(bench::DeviceName());
}
BENCHMARK(BM_CopyCeiling)->UseManualTime()->MinTime(kMinTime)->Unit(benchmark::kMicrosecond);

void BM_Embedding(benchmark::State& state) {
  const int64_t T = state.range(0);
  static DeviceBuffer table = RandomDevice(size_t(kVocab) * kHidden * 2);
  const double bytes = double(T) * kHidden * (2 + 4) + T * 4.0;
  const int sets = RotatingSets(bytes);
  std::mt19937 rng(T);
  std::vector<int32_t> ids(sets * T);
  for (auto& id : ids) id = int32_t(rng() % kVocab);
  DeviceBuffer d_ids = UploadVector(ids), out = RandomDevice(size_t(sets) * T * kHidden * 4);
  const double seconds = TimeOnGpu(state, Stream(), Batch(sets), [&](int64_t i) {
    const int64_t s = i % sets;
    return EmbeddingBf16(static_cast<const __nv_bfloat16*>(table.data()), kVocab, kHidden,
                         static_cast<const int32_t*>(d_ids.data()) + s * T, T,
                         static_cast<float*>(out.data()) + s * T * kHidden, Stream());
  });
  ReportRates(state, seconds, bytes);
}
BENCHMARK(BM_Embedding)
    ->Arg(1)
    ->Arg(256)
    ->Arg(4096)
    ->UseManualTime()
    ->MinTime(kMinTime)
    ->Unit(benchmark::kMicrosecond);

// range(1): 1 = residual += delta then norm; 0 = norm only.
void BM_FusedAddRmsNorm(benchmark::State& state) {
  const int64_t T = state.range(0);
  const bool with_delta = state.range(1) != 0;
  const double bytes = double(T) * kHidden * (with_delta ? 4 + 4 + 4 + 2 : 4 + 2) + kHidden * 2;
  const int sets = RotatingSets(bytes);
  const size_t rows = size_t(sets) * T * kHidden;
  // Repeated in-place adds of deltas in [-1, 1] make a random walk: the residual stays finite.
  DeviceBuffer residual = RandomDevice(rows * 4), delta = RandomDevice(rows * 4);
  DeviceBuffer gain = RandomDevice(kHidden * 2), out = RandomDevice(rows * 2);
  const double seconds = TimeOnGpu(state, Stream(), Batch(sets), [&](int64_t i) {
    const int64_t s = i % sets;
    return FusedAddRmsNorm(
        static_cast<float*>(residual.data()) + s * T * kHidden,
        with_delta ? static_cast<const float*>(delta.data()) + s * T * kHidden : nullptr,
        static_cast<const __nv_bfloat16*>(gain.data()), 1e-5f, T, kHidden,
        static_cast<__nv_bfloat16*>(out.data()) + s * T * kHidden, Stream());
  });
  ReportRates(state, seconds, bytes);
}
BENCHMARK(BM_FusedAddRmsNorm)
    ->ArgsProduct({{1, 7, 256, 4096}, {1}})
    ->Args({4096, 0})
    ->UseManualTime()
    ->MinTime(kMinTime)
    ->Unit(benchmark::kMicrosecond);

// range(1): 0 = bf16 cache, 1 = fp8 cache.
void BM_RopeWriteKv(benchmark::State& state) {
  const int64_t T = state.range(0);
  const bool fp8 = state.range(1) != 0;
  const int64_t width = (kQHeads + 2 * kKvHeads) * kHeadDim;
  const int64_t kv_row = kKvHeads * kHeadDim;
  const double bytes =
      double(T) * (width * 2 + kQHeads * kHeadDim * 2 + 2 * kv_row * (fp8 ? 1 : 2) + 4 + 8);
  const int sets = RotatingSets(bytes);
  std::mt19937 rng(T);
  std::vector<int32_t> positions(sets * T);
  std::vector<int64_t> slots(sets * T);
  for (int64_t i = 0; i < sets * T; ++i) positions[i] = int32_t(rng() % 131072), slots[i] = i;
  std::vector<float> inv_freq(kHeadDim / 2);
  for (int i = 0; i < kHeadDim / 2; ++i) inv_freq[i] = std::pow(150000.0f, -2.0f * i / kHeadDim);
  DeviceBuffer d_pos = UploadVector(positions), d_slots = UploadVector(slots);
  DeviceBuffer d_freq = UploadVector(inv_freq),
               d_scales = UploadVector(std::vector<float>{0.02f, 0.02f});
  DeviceBuffer qkv = RandomDevice(size_t(sets) * T * width * 2);
  DeviceBuffer q = RandomDevice(size_t(sets) * T * kQHeads * kHeadDim * 2);
  const size_t cache_bytes = size_t(sets) * T * kv_row * (fp8 ? 1 : 2);
  DeviceBuffer k_cache = RandomDevice(cache_bytes), v_cache = RandomDevice(cache_bytes);
  const RopeKvShape shape{T, int(kQHeads), int(kKvHeads), int(kHeadDim), sets * T};
  const double seconds = TimeOnGpu(state, Stream(), Batch(sets), [&](int64_t i) {
    const int64_t s = i % sets;
    const auto* x = static_cast<const __nv_bfloat16*>(qkv.data()) + s * T * width;
    const auto* pos = static_cast<const int32_t*>(d_pos.data()) + s * T;
    const auto* slot = static_cast<const int64_t*>(d_slots.data()) + s * T;
    auto* q_out = static_cast<__nv_bfloat16*>(q.data()) + s * T * kQHeads * kHeadDim;
    const auto* freq = static_cast<const float*>(d_freq.data());
    if (fp8)
      return RopeWriteKvFp8(
          x, pos, slot, freq, 1.3466f, shape, q_out, static_cast<uint8_t*>(k_cache.data()),
          static_cast<uint8_t*>(v_cache.data()), static_cast<const float*>(d_scales.data()),
          static_cast<const float*>(d_scales.data()) + 1, Stream());
    return RopeWriteKvBf16(x, pos, slot, freq, 1.3466f, shape, q_out,
                           static_cast<__nv_bfloat16*>(k_cache.data()),
                           static_cast<__nv_bfloat16*>(v_cache.data()), Stream());
  });
  ReportRates(state, seconds, bytes);
}
BENCHMARK(BM_RopeWriteKv)
    ->ArgsProduct({{1, 256, 4096}, {0, 1}})
    ->UseManualTime()
    ->MinTime(kMinTime)
    ->Unit(benchmark::kMicrosecond);

// range(1): experts.
void BM_RouterTopK(benchmark::State& state) {
  const int64_t T = state.range(0);
  const int experts = int(state.range(1)), k = 4;
  const double bytes = double(T) * (experts * 4 + k * 8);
  const int sets = RotatingSets(bytes);
  DeviceBuffer logits = RandomDevice(size_t(sets) * T * experts * 4);
  DeviceBuffer indices = RandomDevice(size_t(sets) * T * k * 4);
  DeviceBuffer weights = RandomDevice(size_t(sets) * T * k * 4);
  const double seconds = TimeOnGpu(state, Stream(), Batch(sets), [&](int64_t i) {
    const int64_t s = i % sets;
    return RouterTopK(static_cast<const float*>(logits.data()) + s * T * experts, T, experts, k,
                      static_cast<int32_t*>(indices.data()) + s * T * k,
                      static_cast<float*>(weights.data()) + s * T * k, Stream());
  });
  ReportRates(state, seconds, bytes);
}
BENCHMARK(BM_RouterTopK)
    ->ArgsProduct({{1, 256, 4096}, {32, 128}})
    ->UseManualTime()
    ->MinTime(kMinTime)
    ->Unit(benchmark::kMicrosecond);

// Greedy sampling over [B, 201,088] f32 logits.
void BM_ArgmaxRows(benchmark::State& state) {
  const int64_t B = state.range(0);
  const double bytes = double(B) * kVocab * 4 + B * 4.0;
  const int sets = RotatingSets(bytes);
  DeviceBuffer logits = RandomDevice(size_t(sets) * B * kVocab * 4);
  DeviceBuffer out = RandomDevice(size_t(sets) * B * 4);
  auto workspace = DeviceBuffer::Allocate(ArgmaxWorkspaceBytes(B));
  if (!workspace.ok()) return state.SkipWithError(workspace.status().ToString().c_str());
  const double seconds = TimeOnGpu(state, Stream(), Batch(sets), [&](int64_t i) {
    const int64_t s = i % sets;
    return ArgmaxRows(static_cast<const float*>(logits.data()) + s * B * kVocab, B, kVocab, kVocab,
                      static_cast<int32_t*>(out.data()) + s * B, workspace->data(), Stream());
  });
  ReportRates(state, seconds, bytes);
}
BENCHMARK(BM_ArgmaxRows)
    ->Arg(1)
    ->Arg(64)
    ->Arg(256)
    ->UseManualTime()
    ->MinTime(kMinTime)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace atom::cuda
