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
#include "backends/cuda/sample_rows.h"
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

// Full sampling (SampleRows) over [B, 201,088] f32 logits shaped like a language model's (a
// normal background, a few clear favourites), by parameter mix: 0 temperature 1 (the dense
// draw), 1 temperature 0.8 + top-p 0.9, 2 top-k 50, 3 temperature 1 + 5 logprobs, 4 everything
// (top-k 50, top-p 0.9, min-p 0.05, penalties over 300 tokens, 5 logprobs). Bytes: one read of
// the logits (the kernel reads each row several times; later passes mostly hit L2).
void BM_SampleRows(benchmark::State& state) {
  const int64_t B = state.range(0);
  const int mix = int(state.range(1));
  const double bytes = double(B) * kVocab * 4;
  const int sets = RotatingSets(bytes, 8);
  std::vector<float> host(size_t(B) * kVocab);
  std::mt19937 rng(7);
  std::normal_distribution<float> background(0.0f, 2.0f);
  for (float& x : host) x = background(rng);
  for (int64_t r = 0; r < B; ++r)
    for (int j = 0; j < 8; ++j) host[size_t(r * kVocab + rng() % kVocab)] = 12.0f + float(j);
  auto logits = DeviceBuffer::Allocate(size_t(sets) * B * kVocab * 4);
  if (!logits.ok()) return state.SkipWithError(logits.status().ToString().c_str());
  for (int s = 0; s < sets; ++s)
    cudaMemcpy(static_cast<float*>(logits->data()) + s * B * kVocab, host.data(), host.size() * 4,
               cudaMemcpyHostToDevice);
  std::vector<SampleRowParams> params(static_cast<size_t>(B));
  std::vector<SampleEdit> edits;
  for (int64_t r = 0; r < B; ++r) {
    SampleRowParams& p = params[size_t(r)];
    p.seed = uint64_t(r) * 7919;
    p.temperature = mix == 1 ? 0.8f : 1.0f;
    p.top_p = mix == 1 || mix == 4 ? 0.9f : 1.0f;
    p.top_k = mix == 2 || mix == 4 ? 50 : 0;
    p.min_p = mix == 4 ? 0.05f : 0.0f;
    p.num_logprobs = mix == 3 || mix == 4 ? 5 : -1;
    if (mix == 4) {  // penalties: a 300-token history
      p.repetition_penalty = 1.1f;
      p.frequency_penalty = 0.3f;
      p.first_edit = int32_t(edits.size());
      for (int j = 0; j < 300; ++j)
        edits.push_back({int32_t(rng() % kVocab), kSampleEditPenalty, 0.0f, int32_t(j % 3)});
      p.num_edits = 300;
    }
  }
  DeviceBuffer d_params = UploadVector(params);
  DeviceBuffer d_edits = UploadVector(edits.empty() ? std::vector<SampleEdit>(1) : edits);
  DeviceBuffer outputs = RandomDevice(size_t(B) * (2 + 2 * kMaxSampleTopLogprobs) * 4);
  auto workspace =
      DeviceBuffer::Allocate(SampleRowsWorkspaceBytes(B, kVocab, int64_t(edits.size())));
  if (!workspace.ok()) return state.SkipWithError(workspace.status().ToString().c_str());
  SampleRowsOutput out;
  out.tokens = static_cast<int32_t*>(outputs.data());
  out.logprobs = reinterpret_cast<float*>(out.tokens + B);
  out.top_tokens = reinterpret_cast<int32_t*>(out.logprobs + B);
  out.top_logprobs = reinterpret_cast<float*>(out.top_tokens + B * kMaxSampleTopLogprobs);
  const double seconds = TimeOnGpu(state, Stream(), Batch(sets), [&](int64_t i) {
    const int64_t s = i % sets;
    return SampleRows(static_cast<float*>(logits->data()) + s * B * kVocab, B, kVocab, kVocab,
                      static_cast<const SampleRowParams*>(d_params.data()),
                      static_cast<const SampleEdit*>(d_edits.data()), int64_t(edits.size()), out,
                      workspace->data(), Stream());
  });
  ReportRates(state, seconds, bytes);
}
BENCHMARK(BM_SampleRows)
    ->ArgsProduct({{1, 64, 256}, {0, 1, 2, 3, 4}})
    ->UseManualTime()
    ->MinTime(kMinTime)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace atom::cuda
