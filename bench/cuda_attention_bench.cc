// CUDA paged attention at gpt-oss sizes (64 query / 8 KV heads, head_dim 64, block 16, sinks):
//   BM_Decode/batch/context/head_dim: one query token per sequence; GB/s counts the K and V
//     bytes the step must read (each visible key once per KV head) plus q and out, to compare
//     with BM_DeviceCopy (the device's copy bandwidth, bytes read + written).
//   BM_Prefill/tokens/window: one fresh sequence; TFLOP/s counts 4·d FLOPs per (query head,
//     visible key) pair (QKᵀ and PV).
//   BM_DecodeFp8, BM_PrefillFp8: the same on an fp8 e4m3 cache (--kv-cache-dtype fp8), GB/s
//     counting one byte per cached element.
// Times are CUDA events around a CUDA graph of at least 10 calls (30 such iterations, fixed so
// that the large caches are built once per configuration); the calls rotate over several
// disjoint sets of physical blocks when one set would fit in L2. host_us: the host cost of one
// call made directly (no graph).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/paged_attention.h"
#include "core/dtype.h"

namespace atom::cuda {
namespace {

constexpr int kQHeads = 64, kKvHeads = 8, kBlockSize = 16;
constexpr int kLaunchesPerIteration = 10;
constexpr size_t kRotateBytes = size_t(256) << 20;  // well over any L2 here

#define BENCH_CHECK(expr)                          \
  do {                                             \
    if (auto st_ = (expr); !st_.ok()) {            \
      state.SkipWithError(st_.ToString().c_str()); \
      return;                                      \
    }                                              \
  } while (0)
#define BENCH_CUDA(expr) BENCH_CHECK(CudaStatusOf((expr), #expr))

const DeviceInfo& Gpu() {
  static const DeviceInfo device = [] {
    auto devices = QueryDevices();
    if (!devices.ok() || devices->empty()) return DeviceInfo{};
    std::printf("%s\n", Describe(devices->front()).c_str());
    return devices->front();
  }();
  return device;
}

// Fills `bytes` of device memory with random non-zero bf16 in [-1, 1] (a 32 MiB random pattern
// tiled): timing on zeros can flatter a kernel.
Status FillRandomBf16(void* dst, size_t bytes, uint32_t seed) {
  const size_t pattern_elems = std::min<size_t>(bytes / 2, size_t(16) << 20);
  std::vector<uint16_t> host(pattern_elems);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (uint16_t& x : host) x = FloatToBf16(dist(rng));
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(bytes - done, pattern_elems * 2);
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(static_cast<char*>(dst) + done, host.data(), n, cudaMemcpyHostToDevice));
    done += n;
  }
  return OkStatus();
}

// Fills `bytes` of device memory with random e4m3 codes of values in [-1, 1] (never NaN).
Status FillRandomFp8(void* dst, size_t bytes, uint32_t seed) {
  const size_t pattern = std::min<size_t>(bytes, size_t(32) << 20);
  std::vector<uint8_t> host(pattern);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (uint8_t& x : host) x = FloatToFp8E4M3(dist(rng));
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(bytes - done, pattern);
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(static_cast<char*>(dst) + done, host.data(), n, cudaMemcpyHostToDevice));
    done += n;
  }
  return OkStatus();
}

template <typename T>
StatusOr<DeviceBuffer> UploadVector(const std::vector<T>& host) {
  ATOM_ASSIGN_OR_RETURN(DeviceBuffer buffer,
                        DeviceBuffer::Allocate(std::max<size_t>(host.size() * sizeof(T), 16)));
  ATOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(buffer.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return buffer;
}

struct Step {
  std::vector<int> num_query, context;  // per sequence; queries are the last positions
  int head_dim = 64, window = 0;
  int force_splits = 0;  // > 0: kDecodeSplitKv with this many splits instead of the plan's pick
  bool fp8 = false;      // an fp8 e4m3 cache (scales 1) instead of bf16
};

// Runs one configuration: builds the caches (rotated sets), plans, times.
void RunStep(benchmark::State& state, const Step& step, double bytes, double flops) {
  const int num_seqs = int(step.context.size()), d = step.head_dim;
  std::vector<int32_t> query_start{0}, seq_lens, positions;
  int blocks_per_set = 0, max_blocks = 0, max_query = 0, max_context = 0;
  for (int s = 0; s < num_seqs; ++s) {
    query_start.push_back(query_start.back() + step.num_query[s]);
    seq_lens.push_back(step.context[s]);
    for (int i = 0; i < step.num_query[s]; ++i)
      positions.push_back(step.context[s] - step.num_query[s] + i);
    const int blocks = (step.context[s] + kBlockSize - 1) / kBlockSize;
    blocks_per_set += blocks;
    max_blocks = std::max(max_blocks, blocks);
    max_query = std::max(max_query, step.num_query[s]);
    max_context = std::max(max_context, step.context[s]);
  }
  const int num_tokens = query_start.back();
  const size_t block_bytes = size_t(kBlockSize) * kKvHeads * d * (step.fp8 ? 1 : 2);
  const int sets = int(std::clamp<size_t>(
      (kRotateBytes + 2 * block_bytes * blocks_per_set - 1) / (2 * block_bytes * blocks_per_set), 1,
      64));
  const int num_blocks = blocks_per_set * sets;

  // Each set: the sequences' blocks at shuffled physical places, disjoint from other sets.
  std::vector<int32_t> physical(num_blocks);
  std::iota(physical.begin(), physical.end(), 0);
  std::mt19937 rng(1234);
  std::shuffle(physical.begin(), physical.end(), rng);
  std::vector<DeviceBuffer> tables;
  for (int set = 0, next = 0; set < sets; ++set) {
    std::vector<int32_t> table(size_t(num_seqs) * max_blocks, 0);
    for (int s = 0; s < num_seqs; ++s)
      for (int b = 0; b * kBlockSize < step.context[s]; ++b)
        table[size_t(s) * max_blocks + b] = physical[next++];
    auto buffer = UploadVector(table);
    BENCH_CHECK(buffer.status());
    tables.push_back(std::move(buffer).value());
  }
  auto k_cache = DeviceBuffer::Allocate(size_t(num_blocks) * block_bytes);
  auto v_cache = DeviceBuffer::Allocate(size_t(num_blocks) * block_bytes);
  auto q = DeviceBuffer::Allocate(size_t(num_tokens) * kQHeads * d * 2);
  auto out = DeviceBuffer::Allocate(size_t(num_tokens) * kQHeads * d * 2);
  BENCH_CHECK(k_cache.status());
  BENCH_CHECK(v_cache.status());
  BENCH_CHECK(q.status());
  BENCH_CHECK(out.status());
  auto fill_cache = step.fp8 ? FillRandomFp8 : FillRandomBf16;
  BENCH_CHECK(fill_cache(k_cache->data(), k_cache->size(), 1));
  BENCH_CHECK(fill_cache(v_cache->data(), v_cache->size(), 2));
  auto kv_scales = UploadVector(std::vector<float>{1.0f, 1.0f});
  BENCH_CHECK(kv_scales.status());
  BENCH_CHECK(FillRandomBf16(q->data(), q->size(), 3));
  std::vector<float> sinks_host(kQHeads);
  for (int h = 0; h < kQHeads; ++h) sinks_host[h] = 0.1f * float(h % 7);
  auto sinks = UploadVector(sinks_host);
  auto query_start_d = UploadVector(query_start);
  auto seq_lens_d = UploadVector(seq_lens);
  auto positions_d = UploadVector(positions);
  BENCH_CHECK(sinks.status());
  BENCH_CHECK(query_start_d.status());
  BENCH_CHECK(seq_lens_d.status());
  BENCH_CHECK(positions_d.status());

  PagedAttentionShape shape;
  shape.num_seqs = num_seqs;
  shape.num_tokens = num_tokens;
  shape.num_q_heads = kQHeads;
  shape.num_kv_heads = kKvHeads;
  shape.head_dim = d;
  shape.block_size = kBlockSize;
  shape.max_blocks_per_seq = max_blocks;
  shape.sliding_window = step.window;
  shape.max_query_len = max_query;
  shape.max_seq_len = max_context;
  shape.cache_dtype = step.fp8 ? PagedKvDType::kFp8E4M3 : PagedKvDType::kBf16;
  auto plan = step.force_splits > 0
                  ? PlanPagedAttentionWith(Gpu(), shape, PagedAttentionVariant::kDecodeSplitKv,
                                           step.force_splits)
                  : PlanPagedAttention(Gpu(), shape);
  BENCH_CHECK(plan.status());
  auto workspace = DeviceBuffer::Allocate(std::max<size_t>(plan->workspace_bytes, 16));
  BENCH_CHECK(workspace.status());

  PagedAttentionArgs args;
  args.q = static_cast<const __nv_bfloat16*>(q->data());
  args.key_cache = k_cache->data();
  args.value_cache = v_cache->data();
  args.k_scale = static_cast<const float*>(kv_scales->data());
  args.v_scale = args.k_scale + 1;
  args.sinks = static_cast<const float*>(sinks->data());
  args.out = static_cast<__nv_bfloat16*>(out->data());
  args.scale = 1.0f / std::sqrt(float(d));
  args.query_start = static_cast<const int32_t*>(query_start_d->data());
  args.seq_lens = static_cast<const int32_t*>(seq_lens_d->data());
  args.positions = static_cast<const int32_t*>(positions_d->data());

  cudaStream_t stream;
  BENCH_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  int launch = 0;
  auto run = [&]() -> Status {
    args.block_tables = static_cast<const int32_t*>(tables[launch++ % sets].data());
    return PagedAttention(args, *plan, workspace->data(), workspace->size(), stream);
  };
  for (int i = 0; i < 3; ++i) BENCH_CHECK(run());  // warm-up
  BENCH_CUDA(cudaStreamSynchronize(stream));
  // Host cost of one call (argument checks and launches), the GPU kept busy meanwhile.
  const auto host_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kLaunchesPerIteration; ++i) BENCH_CHECK(run());
  const double host_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - host_start)
          .count() /
      kLaunchesPerIteration;
  BENCH_CUDA(cudaStreamSynchronize(stream));

  // The timed unit: one CUDA graph of `launches` calls cycling through every cache set (as the
  // engine replays its decode step), so launch gaps on the host do not count.
  const int launches = std::max(kLaunchesPerIteration, sets);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  BENCH_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < launches; ++i) BENCH_CHECK(run());
  BENCH_CUDA(cudaStreamEndCapture(stream, &graph));
  BENCH_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  BENCH_CUDA(cudaGraphLaunch(exec, stream));
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  for (auto _ : state) {
    BENCH_CUDA(cudaEventRecord(start, stream));
    BENCH_CUDA(cudaGraphLaunch(exec, stream));
    BENCH_CUDA(cudaEventRecord(stop, stream));
    BENCH_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms * 1e-3 / launches);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  state.counters["host_us"] = host_us;
  state.SetLabel(fmt::format("{} splits={} rotate={}", PagedAttentionVariantName(plan->variant),
                             plan->num_splits, sets));
  if (bytes > 0)
    state.counters["GB/s"] =
        benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (flops > 0)
    state.counters["TFLOP/s"] =
        benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Decode(benchmark::State& state) {
  Step step;
  const int batch = int(state.range(0)), context = int(state.range(1));
  step.head_dim = int(state.range(2));
  step.num_query.assign(batch, 1);
  step.context.assign(batch, context);
  const double kv = 2.0 * batch * context * kKvHeads * step.head_dim * 2;
  const double q_out = 2.0 * batch * kQHeads * step.head_dim * 2;
  RunStep(state, step, kv + q_out, 4.0 * batch * context * kQHeads * step.head_dim);
}
BENCHMARK(BM_Decode)
    ->ArgNames({"batch", "context", "d"})
    ->ArgsProduct({{1, 8, 64}, {1024, 8192, 32768}, {64}})
    ->Args({8, 8192, 128})
    ->UseManualTime()
    ->Iterations(30)
    ->Unit(benchmark::kMicrosecond);

void BM_DecodeFp8(benchmark::State& state) {
  Step step;
  const int batch = int(state.range(0)), context = int(state.range(1));
  step.head_dim = int(state.range(2));
  step.fp8 = true;
  step.num_query.assign(batch, 1);
  step.context.assign(batch, context);
  const double kv = 2.0 * batch * context * kKvHeads * step.head_dim * 1;
  const double q_out = 2.0 * batch * kQHeads * step.head_dim * 2;
  RunStep(state, step, kv + q_out, 4.0 * batch * context * kQHeads * step.head_dim);
}
BENCHMARK(BM_DecodeFp8)
    ->ArgNames({"batch", "context", "d"})
    ->ArgsProduct({{1, 8, 64}, {1024, 8192, 32768}, {64}})
    ->UseManualTime()
    ->Iterations(30)
    ->Unit(benchmark::kMicrosecond);

// The split heuristic against neighbouring split counts (same batch shapes as BM_Decode).
void BM_DecodeSplits(benchmark::State& state) {
  Step step;
  const int batch = int(state.range(0)), context = int(state.range(1));
  step.force_splits = int(state.range(2));
  step.num_query.assign(batch, 1);
  step.context.assign(batch, context);
  const double kv = 2.0 * batch * context * kKvHeads * step.head_dim * 2;
  RunStep(state, step, kv, 0);
}
BENCHMARK(BM_DecodeSplits)
    ->ArgNames({"batch", "context", "splits"})
    ->ArgsProduct({{1}, {32768}, {16, 33, 132}})
    ->ArgsProduct({{8}, {8192}, {4, 18}})
    ->UseManualTime()
    ->Iterations(30)
    ->Unit(benchmark::kMicrosecond);

// A mixed step: a 512-token prefill chunk continuing at position 7680 plus 63 decodes, all at
// context 8192 (GB/s over the KV bytes every sequence must read once).
void BM_Mixed(benchmark::State& state) {
  Step step;
  step.num_query.assign(64, 1);
  step.num_query[0] = 512;
  step.context.assign(64, 8192);
  const double kv = 2.0 * 64 * 8192 * kKvHeads * step.head_dim * 2;
  double pairs = 63.0 * 8192;
  for (int p = 8192 - 512; p < 8192; ++p) pairs += p + 1;
  RunStep(state, step, kv, 4.0 * pairs * kQHeads * step.head_dim);
}
BENCHMARK(BM_Mixed)->UseManualTime()->Iterations(30)->Unit(benchmark::kMicrosecond);

void BM_Prefill(benchmark::State& state) {
  Step step;
  const int tokens = int(state.range(0));
  step.window = int(state.range(1));
  step.head_dim = int(state.range(2));
  step.num_query = {tokens};
  step.context = {tokens};
  double pairs = 0;  // (query, visible key) pairs per head
  for (int p = 0; p < tokens; ++p) pairs += step.window > 0 ? std::min(p + 1, step.window) : p + 1;
  RunStep(state, step, 0, 4.0 * pairs * kQHeads * step.head_dim);
}
BENCHMARK(BM_Prefill)
    ->ArgNames({"tokens", "window", "d"})
    ->ArgsProduct({{1024, 8192}, {0, 128}, {64}})
    ->Args({8192, 0, 128})
    ->UseManualTime()
    ->Iterations(30)
    ->Unit(benchmark::kMicrosecond);

void BM_PrefillFp8(benchmark::State& state) {
  Step step;
  const int tokens = int(state.range(0));
  step.window = int(state.range(1));
  step.fp8 = true;
  step.num_query = {tokens};
  step.context = {tokens};
  double pairs = 0;
  for (int p = 0; p < tokens; ++p) pairs += step.window > 0 ? std::min(p + 1, step.window) : p + 1;
  RunStep(state, step, 0, 4.0 * pairs * kQHeads * step.head_dim);
}
BENCHMARK(BM_PrefillFp8)
    ->ArgNames({"tokens", "window"})
    ->ArgsProduct({{1024, 8192}, {0, 128}})
    ->UseManualTime()
    ->Iterations(30)
    ->Unit(benchmark::kMicrosecond);

// The ceiling: a 1 GiB device-to-device copy, counting bytes read plus written.
void BM_DeviceCopy(benchmark::State& state) {
  const size_t bytes = size_t(1) << 30;
  auto a = DeviceBuffer::Allocate(bytes);
  auto b = DeviceBuffer::Allocate(bytes);
  BENCH_CHECK(a.status());
  BENCH_CHECK(b.status());
  BENCH_CHECK(FillRandomBf16(a->data(), bytes, 4));
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  BENCH_CUDA(cudaMemcpy(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice));
  for (auto _ : state) {
    BENCH_CUDA(cudaEventRecord(start));
    BENCH_CUDA(cudaMemcpyAsync(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice));
    BENCH_CUDA(cudaEventRecord(stop));
    BENCH_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DeviceCopy)->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace atom::cuda
