// SampleRows (the whole sampler on the GPU) against the engine's host Sample() on fresh random
// logits at the real vocabulary size (201,088), for every SamplingParams option alone and in
// combination, in mixed batches of 1 to 64 rows. The rows go the engine's way: SampleRow ->
// DeviceSamplingBatch (edits for bias, bans and penalties) -> CudaSampler -> SampleRows.
//
// What is asserted:
//   - tokens equal the host's. The kernel adds in the host's order where the host's result
//     depends on it, and exactly (fixed point) where the host adds in double, so a token may
//     differ only when u * mass (or top_p * mass, or min_p against e) sits within rounding of a
//     boundary: every difference must be shown to be such a case by a double-precision reference
//     (NearBoundary), and they must be rare (at most 1% of rows);
//   - logprobs (sampled token and the top list: the same ids in the same order) within 1e-4;
//   - a seeded row gives the same results whatever the batch around it and its place in it;
//   - every output element is written (outputs poisoned first).
#include "backends/cuda/sample_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/device_sampling.h"
#include "engine/random.h"
#include "engine/sampler.h"
#include "gpu_test_util.h"
#include "models/cuda/cuda_sampler.h"

namespace atom {
namespace {

using cuda::DeviceBuffer;
using testing::Download;
using testing::Poisoned;
using testing::TestRng;
using testing::Upload;

constexpr int64_t kVocab = 201088;
const std::vector<int32_t> kEos = {200002, 199999};
constexpr double kBoundaryTolerance = 1e-5;  // relative to the mass

// Logits like a language model's: a smooth background and (`peaked`) a few clear favourites.
std::vector<float> RandomLogits(int64_t vocab, bool peaked, bool quantized = false) {
  std::normal_distribution<float> background(0.0f, peaked ? 1.5f : 3.0f);
  std::vector<float> x(static_cast<size_t>(vocab));
  for (float& v : x) v = background(TestRng());
  if (peaked) {
    for (int j = 0; j < 8; ++j) x[TestRng()() % vocab] = 10.0f + float(TestRng()() % 80) / 10.0f;
  }
  if (quantized) {  // many exact ties: ids must break them
    for (float& v : x) v = std::round(v * 2.0f) / 2.0f;
  }
  return x;
}

// One test row: its parameters and state, owned here for the SampleRow's pointers.
struct TestRow {
  SamplingParams params;
  PenaltyState penalties;
  uint64_t seed = 0;
  uint32_t seq_index = 0;
  int64_t position = 0;

  SampleRow Row(const float* logits) const {
    SampleRow r;
    r.logits = logits;
    r.params = &params;
    r.penalties = params.has_penalties() ? &penalties : nullptr;
    r.seed = seed;
    r.seq_index = seq_index;
    r.position = position;
    r.eos_token_ids = kEos;
    return r;
  }
};

// The parameter sets exercised: each option alone, then combinations.
std::vector<SamplingParams> ParamSets() {
  std::vector<SamplingParams> sets;
  auto add = [&](auto edit) {
    SamplingParams p;
    edit(p);
    sets.push_back(p);
  };
  add([](SamplingParams&) {});  // temperature 1
  add([](SamplingParams& p) { p.temperature = 0.7f; });
  add([](SamplingParams& p) { p.temperature = 1.6f; });
  add([](SamplingParams& p) { p.top_k = 1; });
  add([](SamplingParams& p) { p.top_k = 40; });
  add([](SamplingParams& p) { p.top_k = 5000; });
  add([](SamplingParams& p) { p.top_p = 0.1f; });
  add([](SamplingParams& p) { p.top_p = 0.9f; });
  add([](SamplingParams& p) { p.top_p = 0.995f; });
  add([](SamplingParams& p) { p.min_p = 0.05f; });
  add([](SamplingParams& p) { p.min_p = 0.001f; });
  add([](SamplingParams& p) { p.logprobs = 0; });
  add([](SamplingParams& p) { p.logprobs = 20; });
  add([](SamplingParams& p) {
    p.logit_bias = {{7, 100.0f}, {123456, -100.0f}, {200000, 12.5f}, {3, -3.0f}};
  });
  add([](SamplingParams& p) {  // banned until 5 tokens: stop ids and EOS
    p.min_tokens = 5;
    p.stop_token_ids = {11, 22, 200001};
  });
  add([](SamplingParams& p) {
    p.min_tokens = 5;
    p.ignore_eos = true;
    p.stop_token_ids = {11};
  });
  add([](SamplingParams& p) { p.repetition_penalty = 1.3f; });
  add([](SamplingParams& p) { p.repetition_penalty = 0.8f; });
  add([](SamplingParams& p) {
    p.frequency_penalty = 0.7f;
    p.presence_penalty = -0.5f;
  });
  add([](SamplingParams& p) { p.temperature = 0.0f; });  // greedy (with the row's edits)
  add([](SamplingParams& p) {
    p.temperature = 0.0f;
    p.repetition_penalty = 1.5f;
    p.frequency_penalty = 2.0f;
    p.logprobs = 5;
  });
  add([](SamplingParams& p) {
    p.temperature = 0.8f;
    p.top_k = 50;
    p.top_p = 0.9f;
    p.min_p = 0.02f;
    p.logprobs = 3;
  });
  add([](SamplingParams& p) {
    p.temperature = 1.1f;
    p.top_p = 0.8f;
    p.min_p = 0.01f;
    p.repetition_penalty = 1.1f;
    p.frequency_penalty = 0.2f;
    p.presence_penalty = 0.2f;
    p.logit_bias = {{5, 4.0f}, {6, -4.0f}};
    p.min_tokens = 2;
    p.stop_token_ids = {9};
    p.logprobs = 20;
  });
  add([](SamplingParams& p) {
    p.top_k = 3000;
    p.top_p = 0.99f;
    p.frequency_penalty = -1.0f;
  });
  return sets;
}

// A fresh row with parameter set `p`: prompt and output history for the penalties, seeds and
// positions at random (positions both before and after min_tokens).
TestRow MakeRow(const SamplingParams& p) {
  TestRow r;
  r.params = p;
  r.seed = (uint64_t(TestRng()()) << 32) | TestRng()();
  r.seq_index = TestRng()() % 4;
  r.position = TestRng()() % 10;
  std::vector<int32_t> prompt(300);
  for (int32_t& t : prompt) t = int32_t(TestRng()() % kVocab);
  r.penalties.AddPromptTokens(prompt);
  for (int j = 0; j < 60; ++j) {  // repeats: favour a few tokens
    r.penalties.AddOutputToken(j % 3 == 0 ? int32_t(TestRng()() % 16) : prompt[j]);
  }
  EXPECT_TRUE(r.params.Validate(kVocab).ok());
  return r;
}

std::vector<SampleResult> SampleOnGpu(const std::vector<float>& logits, int64_t vocab,
                                      const std::vector<SampleRow>& rows) {
  DeviceSamplingBatch batch;
  for (const SampleRow& row : rows) batch.Add(row);
  const ops::SamplingRows& request = batch.request();
  DeviceBuffer d_logits = Upload(logits);
  CudaSampler sampler;
  const Status status =
      sampler.Sample(request, static_cast<float*>(d_logits.data()), vocab, vocab, nullptr);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<SampleResult> results(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) batch.Result(k, &results[k]);
  return results;
}

// Whether rounding alone can explain the GPU picking `a` where the host picked `b`: in a
// double-precision reference of the row's kept distribution, u * mass lies within the tolerance
// of the cumulative mass between the two tokens, or the top-p or min-p decision of some token is
// that close to its threshold.
bool NearBoundary(const SampleRow& row, int64_t vocab, int32_t a, int32_t b) {
  const SamplingParams& p = *row.params;
  if (p.greedy()) return false;  // greedy has no sums: it must be exact
  std::vector<float> w(row.logits, row.logits + vocab);
  for (const auto& [token, bias] : p.logit_bias) w[token] += bias;
  if (row.position < p.min_tokens) {
    for (const int32_t t : p.stop_token_ids) w[t] = -INFINITY;
    if (!p.ignore_eos)
      for (const int32_t t : row.eos_token_ids) w[t] = -INFINITY;
  }
  if (p.has_penalties()) row.penalties->Apply(p, w.data());
  const float m = *std::max_element(w.begin(), w.end());
  const float scale = 1.0f / p.temperature;
  std::vector<double> e(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    const float arg = (w[i] - m) * scale;
    e[i] = arg >= -87.3f ? std::exp(double(arg)) : 0.0;
  }
  std::vector<int32_t> kept(static_cast<size_t>(vocab));
  std::iota(kept.begin(), kept.end(), 0);
  if (p.top_k_enabled(vocab)) {
    std::partial_sort(kept.begin(), kept.begin() + p.top_k, kept.end(),
                      [&](int32_t x, int32_t y) { return w[x] != w[y] ? w[x] > w[y] : x < y; });
    kept.resize(size_t(p.top_k));
  }
  if (p.top_p < 1.0f) {
    std::sort(kept.begin(), kept.end(),
              [&](int32_t x, int32_t y) { return e[x] != e[y] ? e[x] > e[y] : x < y; });
    double total = 0;
    for (const int32_t id : kept) total += e[id];
    const double target = p.top_p * total;
    double before = 0;
    size_t n = 0;
    while (n < kept.size() && before < target) before += e[kept[n++]];
    // The last kept token and the first dropped one: fragile when the mass before either is
    // within the tolerance of the target.
    if (std::abs(before - e[kept[n - 1]] - target) <= kBoundaryTolerance * total) return true;
    if (std::abs(before - target) <= kBoundaryTolerance * total) return true;
    kept.resize(n);
  }
  if (p.min_p > 0.0f) {
    std::vector<int32_t> next;
    for (const int32_t id : kept) {
      if (std::abs(e[id] - p.min_p) <= kBoundaryTolerance * p.min_p) return true;
      if (e[id] >= p.min_p) next.push_back(id);
    }
    kept = next;
  }
  std::sort(kept.begin(), kept.end());
  double total = 0;
  for (const int32_t id : kept) total += e[id];
  const double target = PhiloxUniform(row.seed, row.seq_index, uint64_t(row.position)) * total;
  const int32_t lo = std::min(a, b), hi = std::max(a, b);
  double through_lo = 0, before_hi = 0;
  for (const int32_t id : kept) {
    if (id <= lo) through_lo += e[id];
    if (id < hi) before_hi += e[id];
  }
  return std::abs(through_lo - target) <= kBoundaryTolerance * total &&
         std::abs(before_hi - target) <= kBoundaryTolerance * total;
}

// Logprobs within 1e-4 (equal infinities, for -inf logits, count as equal).
void ExpectLogprobNear(float got, float want, const std::string& what) {
  if (got == want) return;
  EXPECT_NEAR(got, want, 1e-4) << what;
}

struct Tally {
  int rows = 0, differing = 0;
};

// The GPU's result for one row against the host's.
void ExpectMatches(const SampleRow& row, int64_t vocab, const SampleResult& host,
                   const SampleResult& gpu, Tally* tally, const std::string& what) {
  SCOPED_TRACE(what);
  ++tally->rows;
  ASSERT_GE(gpu.token, 0);
  ASSERT_LT(gpu.token, vocab);
  float host_logprob = host.logprob;
  if (gpu.token != host.token) {
    ++tally->differing;
    EXPECT_TRUE(NearBoundary(row, vocab, gpu.token, host.token))
        << "GPU token " << gpu.token << ", host token " << host.token << ": not a rounding case";
    if (row.params->logprobs) {
      std::vector<TokenLogprob> top;
      ComputeLogprobs(row.logits, vocab, gpu.token, 0, &host_logprob, &top);
    }
  }
  ExpectLogprobNear(gpu.logprob, host_logprob, "sampled token");
  ASSERT_EQ(gpu.top_logprobs.size(), host.top_logprobs.size());
  for (size_t j = 0; j < host.top_logprobs.size(); ++j) {
    EXPECT_EQ(gpu.top_logprobs[j].token, host.top_logprobs[j].token) << "top " << j;
    ExpectLogprobNear(gpu.top_logprobs[j].logprob, host.top_logprobs[j].logprob,
                      "top " + std::to_string(j));
  }
}

// Every parameter set, on rows mixed into batches of several sizes.
TEST(CudaSampleRows, MatchesHostSampleForEveryOption) {
  const std::vector<SamplingParams> sets = ParamSets();
  Tally tally;
  int next_set = 0;
  for (const int batch : {1, 2, 7, 33, 64}) {
    for (int round = 0; round < 3; ++round) {
      std::vector<TestRow> test_rows;
      std::vector<float> logits;
      for (int r = 0; r < batch; ++r) {
        test_rows.push_back(MakeRow(sets[size_t(next_set++) % sets.size()]));
        const std::vector<float> x = RandomLogits(kVocab, /*peaked=*/r % 2 == 0, r % 7 == 3);
        logits.insert(logits.end(), x.begin(), x.end());
      }
      std::vector<SampleRow> rows;
      for (int r = 0; r < batch; ++r) rows.push_back(test_rows[r].Row(logits.data() + r * kVocab));
      std::vector<SampleResult> host(rows.size());
      SampleBatch(rows, kVocab, host);
      const std::vector<SampleResult> gpu = SampleOnGpu(logits, kVocab, rows);
      ASSERT_EQ(gpu.size(), host.size());
      for (int r = 0; r < batch; ++r) {
        ExpectMatches(rows[r], kVocab, host[r], gpu[r], &tally,
                      "batch " + std::to_string(batch) + " row " + std::to_string(r) + " set " +
                          std::to_string((next_set - batch + r) % int(sets.size())));
      }
    }
  }
  std::printf("%d rows, %d tokens differ from the host's (all at rounding boundaries)\n",
              tally.rows, tally.differing);
  EXPECT_LE(tally.differing, tally.rows / 100);
}

// Edge cases on small vocabularies and padded rows: -inf logits (fewer finite tokens than
// top_k), all-equal logits, min_p 1, tiny top_p, a subnormal temperature, vocab 1.
TEST(CudaSampleRows, EdgeCases) {
  Tally tally;
  for (const int64_t vocab : {int64_t(1), int64_t(5), int64_t(1000), int64_t(4099)}) {
    std::vector<TestRow> test_rows;
    std::vector<float> logits;
    auto add = [&](std::vector<float> x, auto edit) {
      TestRow r;
      edit(r.params);
      r.seed = TestRng()();
      r.position = TestRng()() % 3;
      ASSERT_TRUE(r.params.Validate(vocab).ok());
      test_rows.push_back(r);
      logits.insert(logits.end(), x.begin(), x.end());
    };
    const std::vector<float> equal(size_t(vocab), 0.25f);
    std::vector<float> sparse(size_t(vocab), -INFINITY);
    sparse[0] = 1.0f;
    sparse[size_t(vocab - 1)] = 1.0f;
    sparse[size_t(vocab / 2)] = 2.0f;
    for (int pass = 0; pass < 2; ++pass) {
      const std::vector<float> base = pass == 0 ? equal : sparse;
      add(base, [](SamplingParams&) {});
      add(base, [&](SamplingParams& p) { p.top_k = int(std::min<int64_t>(vocab, 10)); });
      add(base, [](SamplingParams& p) { p.top_p = 0.01f; });
      add(base, [](SamplingParams& p) { p.min_p = 1.0f; });
      add(base, [](SamplingParams& p) { p.temperature = 0.0f; });
      add(base, [](SamplingParams& p) { p.logprobs = 20; });
      add(base, [](SamplingParams& p) {
        p.temperature = 0.5f;
        p.top_k = 3;
        p.top_p = 0.5f;
        p.logprobs = 4;
      });
      add(base, [](SamplingParams& p) { p.temperature = 1e-40f; });  // 1 / T overflows: greedy
    }
    std::vector<SampleRow> rows;
    for (size_t r = 0; r < test_rows.size(); ++r)
      rows.push_back(test_rows[r].Row(logits.data() + r * vocab));
    std::vector<SampleResult> host(rows.size());
    SampleBatch(rows, vocab, host);
    const std::vector<SampleResult> gpu = SampleOnGpu(logits, vocab, rows);
    for (size_t r = 0; r < rows.size(); ++r) {
      ExpectMatches(rows[r], vocab, host[r], gpu[r], &tally,
                    "vocab " + std::to_string(vocab) + " row " + std::to_string(r));
    }
  }
  EXPECT_EQ(tally.differing, 0);  // no sums worth the name: exact
}

// A seeded row's results depend on nothing but the row: the same inside any batch, anywhere.
TEST(CudaSampleRows, SeededRowIgnoresItsBatch) {
  const std::vector<SamplingParams> sets = ParamSets();
  std::vector<TestRow> probes;
  std::vector<std::vector<float>> probe_logits;
  for (size_t k = 0; k < sets.size(); ++k) {
    probes.push_back(MakeRow(sets[k]));
    probe_logits.push_back(RandomLogits(kVocab, k % 2 == 0));
  }
  std::vector<std::vector<SampleResult>> seen(probes.size());
  for (const int batch : {1, 5, 19}) {
    std::vector<TestRow> fillers;
    for (int r = 0; r < batch; ++r) fillers.push_back(MakeRow(sets[TestRng()() % sets.size()]));
    for (size_t k = 0; k < probes.size(); ++k) {
      const int at = int(TestRng()() % batch);
      std::vector<float> logits;
      std::vector<const TestRow*> order;
      for (int r = 0; r < batch; ++r) {
        const bool probe = r == at;
        const std::vector<float> x = probe ? probe_logits[k] : RandomLogits(kVocab, true);
        logits.insert(logits.end(), x.begin(), x.end());
        order.push_back(probe ? &probes[k] : &fillers[r]);
      }
      std::vector<SampleRow> rows;
      for (int r = 0; r < batch; ++r) rows.push_back(order[r]->Row(logits.data() + r * kVocab));
      seen[k].push_back(SampleOnGpu(logits, kVocab, rows)[at]);
    }
  }
  for (size_t k = 0; k < probes.size(); ++k) {
    for (size_t j = 1; j < seen[k].size(); ++j) {
      EXPECT_EQ(seen[k][j].token, seen[k][0].token) << "set " << k;
      EXPECT_EQ(seen[k][j].logprob, seen[k][0].logprob) << "set " << k;
      EXPECT_EQ(seen[k][j].top_logprobs, seen[k][0].top_logprobs) << "set " << k;
    }
  }
}

// The kernel directly, outputs poisoned: every element is written (tokens in range, logprobs 0
// without logprobs, list entries past a row's length -1 and 0), at a padded row stride.
TEST(CudaSampleRows, WritesEveryOutput) {
  const int64_t rows = 6, vocab = 3000, ld = 3072;
  std::vector<float> logits(size_t(rows * ld), NAN);  // the padding is never read
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> x = RandomLogits(vocab, true);
    std::copy(x.begin(), x.end(), logits.begin() + r * ld);
  }
  std::vector<cuda::SampleRowParams> params(rows);
  for (int64_t r = 0; r < rows; ++r) {
    params[r].seed = TestRng()();
    params[r].num_logprobs = int32_t(r) * 4 - 1;  // -1, 3, 7, ..., 19
    params[r].top_p = r % 2 ? 0.9f : 1.0f;
  }
  std::vector<cuda::SampleEdit> edits = {{1, cuda::kSampleEditBias, 2.0f, 0},
                                         {2, cuda::kSampleEditBan, 0.0f, 0},
                                         {3, cuda::kSampleEditPenalty, 0.0f, 2}};
  params[1].first_edit = 0;
  params[1].num_edits = 3;
  params[1].repetition_penalty = 1.2f;
  DeviceBuffer d_logits = Upload(logits);
  DeviceBuffer d_params = Upload(params);
  DeviceBuffer d_edits = Upload(edits);
  const int64_t top = rows * cuda::kMaxSampleTopLogprobs;
  DeviceBuffer tokens = Poisoned<int32_t>(rows), logprobs = Poisoned<float>(rows);
  DeviceBuffer top_tokens = Poisoned<int32_t>(top), top_logprobs = Poisoned<float>(top);
  auto workspace = DeviceBuffer::Allocate(cuda::SampleRowsWorkspaceBytes(rows, vocab, 3));
  ATOM_ASSERT_OK(workspace.status());
  cuda::SampleRowsOutput out;
  out.tokens = static_cast<int32_t*>(tokens.data());
  out.logprobs = static_cast<float*>(logprobs.data());
  out.top_tokens = static_cast<int32_t*>(top_tokens.data());
  out.top_logprobs = static_cast<float*>(top_logprobs.data());
  ATOM_ASSERT_OK(cuda::SampleRows(static_cast<float*>(d_logits.data()), rows, vocab, ld,
                                  static_cast<const cuda::SampleRowParams*>(d_params.data()),
                                  static_cast<const cuda::SampleEdit*>(d_edits.data()), 3, out,
                                  workspace->data(), nullptr));
  const auto got_tokens = Download<int32_t>(tokens, rows);
  const auto got_logprobs = Download<float>(logprobs, rows);
  const auto got_top_tokens = Download<int32_t>(top_tokens, top);
  const auto got_top_logprobs = Download<float>(top_logprobs, top);
  for (int64_t r = 0; r < rows; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    EXPECT_GE(got_tokens[r], 0);
    EXPECT_LT(got_tokens[r], vocab);
    if (r == 1) {
      EXPECT_NE(got_tokens[r], 2);  // banned in row 1
    }
    const int n = params[r].num_logprobs;
    if (n < 0) {
      EXPECT_EQ(got_logprobs[r], 0.0f);
    } else {
      EXPECT_TRUE(std::isfinite(got_logprobs[r]) && got_logprobs[r] <= 0.0f);
    }
    for (int j = 0; j < cuda::kMaxSampleTopLogprobs; ++j) {
      const int32_t id = got_top_tokens[r * cuda::kMaxSampleTopLogprobs + j];
      const float lp = got_top_logprobs[r * cuda::kMaxSampleTopLogprobs + j];
      if (j < n) {
        EXPECT_TRUE(id >= 0 && id < vocab) << j;
        EXPECT_TRUE(std::isfinite(lp) && lp <= 0.0f) << j;
      } else {
        EXPECT_EQ(id, -1) << j;
        EXPECT_EQ(lp, 0.0f) << j;
      }
    }
  }
}

TEST(CudaSampleRows, RejectsBadArguments) {
  auto* l = reinterpret_cast<float*>(16);
  const auto* p = reinterpret_cast<const cuda::SampleRowParams*>(16);
  void* w = reinterpret_cast<void*>(16);
  cuda::SampleRowsOutput out;
  out.tokens = reinterpret_cast<int32_t*>(16);
  out.logprobs = reinterpret_cast<float*>(16);
  out.top_tokens = reinterpret_cast<int32_t*>(16);
  out.top_logprobs = reinterpret_cast<float*>(16);
  EXPECT_EQ(cuda::SampleRows(l, 1, 0, 0, p, nullptr, 0, out, w, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::SampleRows(l, 1, 8, 4, p, nullptr, 0, out, w, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::SampleRows(l, 1, 8, 8, p, nullptr, 2, out, w, nullptr).code(),
            StatusCode::kInvalidArgument);  // edits missing
  EXPECT_EQ(cuda::SampleRows(l, 1, 8, 8, p, nullptr, 0, out, nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(cuda::SampleRows(l, 0, 8, 8, p, nullptr, 0, out, w, nullptr).ok());  // no rows
}

}  // namespace
}  // namespace atom
