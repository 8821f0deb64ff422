// Micro-benchmarks of the hot CPU kernels at gpt-oss-20b sizes. Linear and MoE report the
// weight bytes they stream per call as bytes_per_second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace atom {
namespace {

HostTensor RandomF32(std::mt19937& rng, Shape shape, float lo, float hi) {
  HostTensor t(DType::kF32, shape);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

HostTensor RandomBf16(std::mt19937& rng, Shape shape, float lo, float hi) {
  HostTensor t(DType::kBF16, shape);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint16_t>()[i] = FloatToBf16(dist(rng));
  return t;
}

HostTensor RandomBytes(std::mt19937& rng, Shape shape, int lo, int hi) {
  HostTensor t(DType::kU8, shape);
  std::uniform_int_distribution<int> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(dist(rng));
  return t;
}

// The ceiling for weight streaming: a 512 MiB copy (bytes read + bytes written per second), on
// the same threads the kernels use. Linear and MoE at T = 1 are bounded by this.
void BM_MemoryCopyCeiling(benchmark::State& state) {
  const int64_t bytes = int64_t(512) << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  ThreadPool& pool = ThreadPool::Global();
  for (auto _ : state) {
    pool.ParallelFor(bytes / 4096, 1024, [&](int64_t b, int64_t e) {
      std::memcpy(dst.data() + b * 4096, src.data() + b * 4096, (e - b) * 4096);
    });
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * 2 * bytes);
}
BENCHMARK(BM_MemoryCopyCeiling)->Unit(benchmark::kMillisecond)->UseRealTime();

// x [T, 2880] · W[4096, 2880]ᵀ + b, bf16 weights.
void BM_Linear(benchmark::State& state) {
  const int64_t tokens = state.range(0), in = 2880, out = 4096;
  std::mt19937 rng(1);
  HostTensor x = RandomF32(rng, {tokens, in}, -1, 1);
  HostTensor w = RandomBf16(rng, {out, in}, -0.05f, 0.05f);
  HostTensor b = RandomBf16(rng, {out}, -1, 1);
  HostTensor y(DType::kF32, {tokens, out});
  for (auto _ : state) {
    cpu::Linear(x, w, b, y);
    benchmark::DoNotOptimize(y.data<float>());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * out * in * 2);
  state.counters["GFLOP/s"] = benchmark::Counter(double(state.iterations()) * 2 * tokens * in * out,
                                                 benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Linear)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

// 32 MXFP4 experts, D = I = 2880, top-4 routing over T tokens.
void BM_MoeMxfp4(benchmark::State& state) {
  const int64_t tokens = state.range(0);
  const int e = 32, d = 2880, inter = 2880, k = 4;
  std::mt19937 rng(2);
  HostTensor gu_blocks = RandomBytes(rng, {e, 2 * inter, d / 32, 16}, 0, 255);
  HostTensor gu_scales = RandomBytes(rng, {e, 2 * inter, d / 32}, 118, 124);
  HostTensor down_blocks = RandomBytes(rng, {e, d, inter / 32, 16}, 0, 255);
  HostTensor down_scales = RandomBytes(rng, {e, d, inter / 32}, 118, 124);
  HostTensor gu_bias = RandomBf16(rng, {e, 2 * inter}, -1, 1);
  HostTensor down_bias = RandomBf16(rng, {e, d}, -1, 1);
  ops::ExpertWeights ew;
  ew.format = ops::ExpertFormat::kMxfp4;
  ew.num_experts = e;
  ew.hidden = d;
  ew.intermediate = inter;
  ew.gate_up_blocks = gu_blocks;
  ew.gate_up_scales = gu_scales;
  ew.down_blocks = down_blocks;
  ew.down_scales = down_scales;
  ew.gate_up_bias = gu_bias;
  ew.down_bias = down_bias;

  HostTensor x = RandomF32(rng, {tokens, d}, -1, 1);
  HostTensor idx(DType::kI32, {tokens, k});
  HostTensor wts(DType::kF32, {tokens, k});
  std::set<int> used;
  std::vector<int> perm(e);
  for (int64_t t = 0; t < tokens; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int s = 0; s < k; ++s) {
      idx.data<int32_t>()[t * k + s] = perm[s];
      wts.data<float>()[t * k + s] = 1.0f / k;
      used.insert(perm[s]);
    }
  }
  HostTensor y(DType::kF32, {tokens, d});
  for (auto _ : state) {
    cpu::MoeExperts(x, ew, idx, wts, y);
    benchmark::DoNotOptimize(y.data<float>());
  }
  // Packed bytes (codes + scales) of the experts actually used.
  const int64_t expert_bytes = (2 * inter * (d / 32) + d * (inter / 32)) * 17;
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(used.size()) * expert_bytes);
  state.counters["experts"] = double(used.size());
}
BENCHMARK(BM_MoeMxfp4)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();

// One decode token: 64 query heads, 8 KV heads, d = 64, `context` cached keys, 16-key blocks
// scattered through the cache. range(1): sliding window (0 = full attention).
void BM_PagedAttentionDecode(benchmark::State& state) {
  const int context = int(state.range(0)), window = int(state.range(1));
  const int hq = 64, hkv = 8, d = 64, block_size = 16;
  const int blocks = (context + block_size - 1) / block_size;
  std::mt19937 rng(3);
  HostTensor q = RandomF32(rng, {1, hq, d}, -1, 1);
  HostTensor kc = RandomF32(rng, {blocks, block_size, hkv, d}, -1, 1);
  HostTensor vc = RandomF32(rng, {blocks, block_size, hkv, d}, -1, 1);
  HostTensor sinks = RandomBf16(rng, {hq}, -1, 1);
  std::vector<int32_t> table(blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  const int32_t query_start[2] = {0, 1}, seq_len = context, position = context - 1;
  const int64_t slot = int64_t(table[position / block_size]) * block_size + position % block_size;
  ops::AttentionMetadata md;
  md.num_seqs = 1;
  md.num_tokens = 1;
  md.query_start = query_start;
  md.seq_lens = &seq_len;
  md.positions = &position;
  md.slot_mapping = &slot;
  md.block_tables = table.data();
  md.max_blocks_per_seq = blocks;
  md.block_size = block_size;
  HostTensor out(DType::kF32, {1, hq, d});
  for (auto _ : state) {
    cpu::PagedAttention(q, kc, vc, md, sinks, {0.125f, window}, out);
    benchmark::DoNotOptimize(out.data<float>());
  }
  const int64_t keys = window > 0 ? std::min(window, context) : context;
  state.SetBytesProcessed(int64_t(state.iterations()) * keys * hkv * d * 4 * 2);
}
BENCHMARK(BM_PagedAttentionDecode)
    ->Args({4096, 0})
    ->Args({4096, 128})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace atom
