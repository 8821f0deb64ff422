// Micro-benchmarks of the sampler at gpt-oss's vocabulary (201,088 tokens): one row at a time
// (Sample; Time is µs per row) and a 256-row batch on the thread pool (SampleBatch;
// items_per_second counts rows, so µs per row = 1e6 / items_per_second).
//
// Logits: N(0, 2.5) over the vocabulary ("flat", a worst case for top-p: the nucleus holds
// thousands of tokens) or the same plus 12 on 20 tokens ("peaked", like a confident model).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace atom {
namespace {

constexpr int64_t kVocab = 201088;
constexpr int kBatchRows = 256;

enum Mode { kGreedy = 0, kTopP = 1, kTopK = 2 };

SamplingParams ParamsFor(int mode) {
  SamplingParams p;
  if (mode == kGreedy) p.temperature = 0.0f;
  if (mode == kTopP) {
    p.temperature = 0.8f;
    p.top_p = 0.9f;
  }
  if (mode == kTopK) p.top_k = 50;
  return p;
}

std::vector<float> Logits(int64_t rows, bool peaked, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.5f);
  std::vector<float> logits(static_cast<size_t>(rows * kVocab));
  for (float& x : logits) x = dist(rng);
  if (peaked) {
    std::uniform_int_distribution<int64_t> token(0, kVocab - 1);
    for (int64_t r = 0; r < rows; ++r) {
      for (int i = 0; i < 20; ++i) logits[size_t(r * kVocab + token(rng))] += 12.0f;
    }
  }
  return logits;
}

const char* ModeName(int mode) {
  return mode == kGreedy ? "greedy" : mode == kTopP ? "top_p=0.9,T=0.8" : "top_k=50";
}

// Args: mode, peaked.
void BM_Sample(benchmark::State& state) {
  const int mode = int(state.range(0));
  const std::vector<float> logits = Logits(1, state.range(1) != 0, 1);
  const SamplingParams params = ParamsFor(mode);
  SampleRow row;
  row.logits = logits.data();
  row.params = &params;
  row.seed = 7;
  SamplerWorkspace ws;
  SampleResult result;
  for (auto _ : state) {
    Sample(row, kVocab, &ws, &result);
    benchmark::DoNotOptimize(result.token);
    ++row.position;
  }
  state.SetLabel(std::string(ModeName(mode)) + (state.range(1) ? " peaked" : " flat"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sample)->ArgsProduct({{kGreedy, kTopP, kTopK}, {0, 1}})->Unit(benchmark::kMicrosecond);

// 256 rows through SampleBatch on ThreadPool::Global().
void BM_SampleBatch(benchmark::State& state) {
  const int mode = int(state.range(0));
  const std::vector<float> logits = Logits(kBatchRows, state.range(1) != 0, 2);
  const SamplingParams params = ParamsFor(mode);
  std::vector<SampleRow> rows(kBatchRows);
  for (int r = 0; r < kBatchRows; ++r) {
    rows[size_t(r)].logits = logits.data() + int64_t(r) * kVocab;
    rows[size_t(r)].params = &params;
    rows[size_t(r)].seed = uint64_t(r);
  }
  std::vector<SampleResult> results(kBatchRows);
  for (auto _ : state) {
    SampleBatch(rows, kVocab, results);
    benchmark::DoNotOptimize(results.data());
    for (SampleRow& row : rows) ++row.position;
  }
  state.SetLabel(std::string(ModeName(mode)) + (state.range(1) ? " peaked" : " flat"));
  state.SetItemsProcessed(state.iterations() * kBatchRows);  // rows/s; µs/row = 1e6 / that
}
BENCHMARK(BM_SampleBatch)
    ->ArgsProduct({{kGreedy, kTopP, kTopK}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace atom
