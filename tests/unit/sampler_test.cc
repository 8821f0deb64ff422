// Tests of engine/sampler.h, engine/sampler_kernels.h, engine/penalty_state.h and
// engine/random.h.
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "engine/random.h"
#include "engine/sampler_kernels.h"
#include "sampler_test_util.h"

namespace atom {
namespace {

// ---- Philox -------------------------------------------------------------------------------

TEST(PhiloxTest, Random123KnownAnswers) {
  EXPECT_EQ(Philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(
      Philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
      (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  // The third Random123 vector (the digits of pi).
  EXPECT_EQ(
      Philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
      (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
  static_assert(Philox4x32_10({0, 0, 0, 0}, {0, 0})[0] == 0x6627e8d5);  // usable at compile time
}

TEST(PhiloxTest, UniformConstruction) {
  EXPECT_EQ(UniformFromBits(0), 0.0f);
  EXPECT_EQ(UniformFromBits(0xffffffffu), 1.0f - 1.0f / 16777216.0f);
  EXPECT_EQ(UniformFromBits(0x80000000u), 0.5f);
  const uint64_t seed = 0x0123456789abcdefull;
  const uint64_t position = 0x100000002ull;
  const PhiloxCounter x =
      Philox4x32_10({0x00000002, 0x00000001, 7, kSamplingStream}, {0x89abcdef, 0x01234567});
  EXPECT_EQ(PhiloxUniform(seed, 7, position), float(x[0] >> 8) / 16777216.0f);
}

TEST(PhiloxTest, DrawsDifferAcrossSeedsSequencesAndPositions) {
  std::set<float> seen;
  for (uint64_t seed : {0ull, 1ull, 1ull << 32}) {
    for (uint32_t seq : {0u, 1u, 2u}) {
      for (uint64_t pos : {0ull, 1ull, 2ull, 1ull << 32}) {
        seen.insert(PhiloxUniform(seed, seq, pos));
      }
    }
  }
  EXPECT_EQ(seen.size(), 3u * 3u * 4u);
  double sum = 0;
  for (uint64_t pos = 0; pos < 100000; ++pos) {
    const float u = PhiloxUniform(42, 0, pos);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(PhiloxTest, RequestSeedsAreDistinct) {
  std::set<uint64_t> seeds;
  for (int i = 0; i < 1000; ++i) seeds.insert(DrawRequestSeed());
  EXPECT_EQ(seeds.size(), 1000u);
}

// ---- Greedy ---------------------------------------------------------------------------------

TEST(SamplerTest, GreedyIsArgmaxWithTiesToLowestId) {
  for (int64_t vocab : {1, 7, 16, 17, 1000, 201088}) {
    const std::vector<float> logits = RandomLogits(vocab, uint32_t(vocab));
    const int64_t expected = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(GreedySample(logits.data(), vocab), expected) << vocab;
    SamplingParams p;
    p.temperature = 0;
    EXPECT_EQ(SampleToken(logits, p, 0, 0), expected);
  }
  std::vector<float> ties = {1, 3, 2, 3, 3};
  EXPECT_EQ(GreedySample(ties.data(), 5), 1);
  std::vector<float> with_nan = {1, std::nanf(""), 2, std::nanf("")};
  EXPECT_EQ(GreedySample(with_nan.data(), 4), 2);
  std::vector<float> all_low = {-kInf, -kInf, std::nanf("")};
  EXPECT_EQ(GreedySample(all_low.data(), 3), 0);
}

TEST(SamplerTest, TemperatureToZeroApproachesArgmax) {
  const std::vector<float> logits = {0.5f, 2.0f, 1.0f, 1.9f};
  for (float t : {1e-2f, 1e-3f, 1e-6f}) {
    SamplingParams p;
    p.temperature = t;
    const std::vector<int64_t> counts = Histogram(logits, p, 2000);
    EXPECT_EQ(counts[1], 2000) << "temperature " << t;
  }
  SamplingParams tiny;  // so small that 1 / temperature overflows: the argmax
  tiny.temperature = 1e-40f;
  EXPECT_EQ(Histogram(logits, tiny, 100)[1], 100);
  // At temperature 0.05 the runner-up (0.1 below) keeps e^-2 of the leader's weight.
  SamplingParams p;
  p.temperature = 0.05f;
  ExpectFrequencies(Histogram(logits, p, 20000), {0, 1, 0, std::exp(-2.0)});
}

TEST(SamplerTest, PlainSamplingFollowsTheTemperedSoftmax) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.25, 0.15};
  const std::vector<float> logits = LogitsOf(probs);
  for (float t : {1.0f, 0.7f, 1.8f}) {
    SamplingParams p;
    p.temperature = t;
    std::vector<double> expected;
    for (double q : probs) expected.push_back(std::pow(q, 1.0 / t));
    ExpectFrequencies(Histogram(logits, p, 40000), expected);
  }
}

// ---- Truncation -----------------------------------------------------------------------------

TEST(SamplerTest, TopKRestrictsToTheKMostLikely) {
  const std::vector<double> probs = {0.05, 0.3, 0.1, 0.25, 0.2, 0.1};
  SamplingParams p;
  p.top_k = 3;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0, 0.3, 0, 0.25, 0.2, 0});
  p.top_k = 1;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 1000), {0, 1, 0, 0, 0, 0});
  // Equal logits at the boundary: the lower ids are kept.
  const std::vector<float> ties = {1, 2, 1, 2, 2, 0};
  p.top_k = 2;
  ExpectFrequencies(Histogram(ties, p, 20000), {0, 1, 0, 1, 0, 0});
  // A k too large for the block prefilter (more than half the blocks) and one that uses it.
  const std::vector<float> wide = RandomLogits(5000, 4);
  std::vector<int32_t> order(wide.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return wide[size_t(a)] > wide[size_t(b)]; });
  for (int k : {3000, 30}) {
    p.top_k = k;
    const std::set<int32_t> allowed(order.begin(), order.begin() + k);
    for (int64_t pos = 0; pos < 300; ++pos) {
      ASSERT_TRUE(allowed.count(SampleToken(wide, p, 3, pos))) << "k " << k;
    }
  }
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  const std::vector<double> probs = {0.05, 0.4, 0.1, 0.3, 0.15};
  SamplingParams p;
  // Ranked: 1 (0.4), 3 (0.3), 4 (0.15), 2 (0.1), 0 (0.05). Token 4 has 0.7 before it.
  p.top_p = 0.75f;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0, 0.4, 0, 0.3, 0.15});
  p.top_p = 0.65f;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0, 0.4, 0, 0.3, 0});
  p.top_p = 0.3f;  // the most likely token alone already reaches it
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 1000), {0, 1, 0, 0, 0});
  p.top_p = 0.96f;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0.05, 0.4, 0.1, 0.3, 0.15});
  p.top_p = 0.94f;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0, 0.4, 0.1, 0.3, 0.15});
  // With temperature 2 the probabilities are proportional to sqrt(probs): 0.300, 0.260, 0.184,
  // 0.150, 0.106 normalised, so 0.6 now needs token 4 as well (0.56 before it).
  p.temperature = 2.0f;
  p.top_p = 0.6f;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000),
                    {0, std::sqrt(0.4), 0, std::sqrt(0.3), std::sqrt(0.15)});
}

TEST(SamplerTest, TopPAppliesToTheRenormalisedTopK) {
  const std::vector<double> probs = {0.3, 0.25, 0.2, 0.15, 0.1};
  SamplingParams p;
  p.top_k = 3;     // 0.3, 0.25, 0.2 -> 0.4, 0.333, 0.267
  p.top_p = 0.7f;  // 0.4 + 0.333 = 0.733 reaches it: tokens 0 and 1
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0.3, 0.25, 0, 0, 0});
  p.top_k = 0;  // without top-k, 0.3 + 0.25 = 0.55 < 0.7: token 2 too
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0.3, 0.25, 0.2, 0, 0});
}

TEST(SamplerTest, MinPKeepsTokensAboveAFractionOfTheMax) {
  const std::vector<double> probs = {0.0625, 0.5, 0.125, 0.25, 0.0625};
  SamplingParams p;
  p.min_p = 0.2f;  // threshold 0.1
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0, 0.5, 0.125, 0.25, 0});
  p.min_p = 0.6f;  // threshold 0.3
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 1000), {0, 1, 0, 0, 0});
  p.min_p = 0.2f;
  p.top_p = 0.6f;  // top-p keeps 1 and 3, min-p then changes nothing
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 30000), {0, 0.5, 0, 0.25, 0});
  p.top_p = 1.0f;
  p.top_k = 2;
  p.min_p = 0.6f;
  ExpectFrequencies(Histogram(LogitsOf(probs), p, 1000), {0, 1, 0, 0, 0});
}

void CheckTruncationAtFullVocabulary(bool peaked, float top_p_value) {
  constexpr int64_t kVocab = 201088;
  std::vector<float> logits = RandomLogits(kVocab, 7, 2.0f);
  if (peaked) {
    for (int32_t i = 0; i < 20; ++i) logits[size_t(i * 9973)] += 10.0f + float(i) * 0.1f;
  }
  std::vector<int32_t> order(static_cast<size_t>(kVocab));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[size_t(a)] != logits[size_t(b)] ? logits[size_t(a)] > logits[size_t(b)] : a < b;
  });
  const float temperature = 0.8f;
  std::vector<double> e(static_cast<size_t>(kVocab));
  double total = 0;
  for (int64_t i = 0; i < kVocab; ++i) {
    e[size_t(i)] = std::exp((double(logits[size_t(i)]) - logits[size_t(order[0])]) / temperature);
    total += e[size_t(i)];
  }
  std::set<int32_t> nucleus;
  double cum = 0;
  for (int32_t id : order) {
    if (cum >= double(top_p_value) * total) break;
    nucleus.insert(id);
    cum += e[size_t(id)];
  }
  const std::set<int32_t> top50(order.begin(), order.begin() + 50);

  SamplingParams top_p;
  top_p.temperature = temperature;
  top_p.top_p = top_p_value;
  SamplingParams top_k;
  top_k.temperature = temperature;
  top_k.top_k = 50;
  SamplerWorkspace ws;
  SampleResult r;
  std::set<int32_t> seen_k;
  for (int64_t pos = 0; pos < 300; ++pos) {
    Sample(Row(logits, top_p, 99, pos), kVocab, &ws, &r);
    EXPECT_TRUE(nucleus.count(r.token)) << r.token;
    Sample(Row(logits, top_k, 99, pos), kVocab, &ws, &r);
    EXPECT_TRUE(top50.count(r.token)) << r.token;
    seen_k.insert(r.token);
  }
  EXPECT_GT(seen_k.size(), 5u);  // it does sample, not just take the argmax
}

// Against a sort of the whole vocabulary at the real size: every draw lies in the reference set.
TEST(SamplerTest, TruncationAtFullVocabularyMatchesASortedReference) {
  CheckTruncationAtFullVocabulary(false, 0.9f);
  CheckTruncationAtFullVocabulary(true, 0.9f);
  CheckTruncationAtFullVocabulary(false, 0.3f);
  CheckTruncationAtFullVocabulary(false, 0.99999f);  // beyond the prefilter: the full select
}

// ---- Selection kernels against sort-based references -------------------------------------------

std::vector<int32_t> RankedIds(const std::vector<float>& v, const std::vector<int32_t>& ids) {
  std::vector<int32_t> order = ids;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return v[size_t(a)] > v[size_t(b)]; });
  return order;
}

TEST(SamplerKernelsTest, SelectTopCountAndMassMatchASort) {
  std::mt19937 rng(5);
  SamplerWorkspace ws;
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t n = std::uniform_int_distribution<int64_t>(1, trial % 2 ? 5000 : 1100)(rng);
    // Few distinct values make ties at the boundary common.
    const int distinct = trial % 3 == 0 ? 5 : 1000000;
    std::vector<float> v(static_cast<size_t>(n));
    std::vector<float> w(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      v[size_t(i)] = float(std::uniform_int_distribution<int>(0, distinct)(rng)) * 0.01f - 3.0f;
      if (trial % 7 == 0 && i % 11 == 0) v[size_t(i)] = -kInf;
      w[size_t(i)] = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
    }
    std::vector<int32_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    std::vector<int32_t> subset;  // the sparse input form: every other id
    for (int32_t i = 0; i < n; i += 2) subset.push_back(i);
    for (const bool dense : {true, false}) {
      const std::vector<int32_t>& input = dense ? all : subset;
      const std::vector<int32_t> ranked = RankedIds(v, input);
      const int64_t k = std::uniform_int_distribution<int64_t>(1, int64_t(input.size()))(rng);
      std::vector<int32_t> expected(ranked.begin(), ranked.begin() + k);
      std::sort(expected.begin(), expected.end());
      std::vector<int32_t> got;
      sampling::SelectTopCount(v.data(), dense ? nullptr : input.data(), int64_t(input.size()), k,
                               &ws, &got);
      EXPECT_EQ(got, expected) << "count, trial " << trial << " dense " << dense;

      const double fraction = std::uniform_real_distribution<double>(0.01, 0.99)(rng);
      double total = 0;
      for (int32_t id : input) total += w[size_t(id)];
      expected.clear();
      double cum = 0;
      for (int32_t id : ranked) {
        if (cum >= fraction * total) break;
        expected.push_back(id);
        cum += w[size_t(id)];
      }
      std::sort(expected.begin(), expected.end());
      sampling::SelectTopMass(v.data(), w.data(), dense ? nullptr : input.data(),
                              int64_t(input.size()), fraction * total, &ws, &got);
      EXPECT_EQ(got, expected) << "mass, trial " << trial << " dense " << dense;
    }
  }
}

TEST(SamplerKernelsTest, PrefiltersKeepEveryCandidate) {
  std::mt19937 rng(9);
  SamplerWorkspace ws;
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 20000)(rng);
    std::vector<float> x = RandomLogits(n, uint32_t(trial), 2.0f);
    for (int64_t i = 0; i < n; ++i) {
      if (trial % 4 == 1) x[size_t(i)] = std::round(x[size_t(i)]);  // many ties
      if (trial % 4 == 2 && i % 64 < 40) x[size_t(i)] = -kInf;      // banned stretches
    }
    // ArgMax: the first maximum.
    const int64_t first = std::max_element(x.begin(), x.end()) - x.begin();
    EXPECT_EQ(sampling::ArgMax(x.data(), n), x[size_t(first)] > -kInf ? first : -1);
    // TopCandidates: a superset of the exact top k.
    const float m = sampling::BlockMaxima(x.data(), n, &ws.block_maxima);
    EXPECT_EQ(m, x[size_t(first)]);
    const int64_t k = std::uniform_int_distribution<int64_t>(1, std::min<int64_t>(n, 300))(rng);
    std::vector<int32_t> candidates, top;
    sampling::TopCandidates(x.data(), n, k, ws.block_maxima, &ws, &candidates);
    EXPECT_TRUE(std::is_sorted(candidates.begin(), candidates.end()));
    std::vector<int32_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    const std::vector<int32_t> ranked = RankedIds(x, all);
    for (int64_t j = 0; j < k; ++j) {
      ASSERT_TRUE(std::binary_search(candidates.begin(), candidates.end(), ranked[size_t(j)]))
          << "trial " << trial << " rank " << j;
    }
    // The top k selected from the candidates are the top k of everything.
    sampling::SelectTopCount(x.data(), candidates.data(), int64_t(candidates.size()), k, &ws, &top);
    std::vector<int32_t> expected(ranked.begin(), ranked.begin() + k);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(top, expected) << "trial " << trial;
    // GatherAtLeast against a plain loop; TopN against the ranking.
    const float threshold = x[size_t(ranked[size_t(k - 1)])];
    std::vector<int32_t> at_least;
    for (int64_t i = 0; i < n; ++i) {
      if (x[size_t(i)] >= threshold) at_least.push_back(int32_t(i));
    }
    sampling::GatherAtLeast(x.data(), n, threshold, &ws, &candidates);
    EXPECT_EQ(candidates, at_least);
    std::vector<TokenLogprob> best;
    sampling::TopN(x.data(), n, 20, 0.0, &ws, &best);
    ASSERT_EQ(best.size(), size_t(std::min<int64_t>(20, n)));
    for (size_t j = 0; j < best.size(); ++j) {
      EXPECT_EQ(best[j].token, ranked[j]) << "trial " << trial << " rank " << j;
    }
  }
}

TEST(SamplerKernelsTest, ExpShiftedMassesAboveThresholds) {
  const std::vector<float> x = RandomLogits(5000, 3);
  const float m = sampling::MaxValue(x.data(), 5000);
  const float thresholds[sampling::kMaxThresholds] = {0.5f, 0.0625f, 3.90625e-3f, 1e-5f};
  double masses[sampling::kMaxThresholds];
  std::vector<float> e(5000);
  const double total = sampling::ExpShifted(x.data(), 5000, m, 1.0f, e.data(), nullptr, thresholds,
                                            sampling::kMaxThresholds, masses);
  for (int t = 0; t < sampling::kMaxThresholds; ++t) {
    double expected = 0;
    for (float v : e) expected += v >= thresholds[t] ? v : 0.0;
    EXPECT_NEAR(masses[t], expected, 1e-5 * total) << t;
  }
}

TEST(SamplerKernelsTest, ExpShiftedAndTopN) {
  const std::vector<float> x = RandomLogits(3000, 11);
  const float m = sampling::MaxValue(x.data(), int64_t(x.size()));
  EXPECT_EQ(m, *std::max_element(x.begin(), x.end()));
  std::vector<float> out(x.size());
  std::vector<double> blocks(3);
  const double total = sampling::ExpShifted(x.data(), 3000, m, 0.5f, out.data(), blocks.data());
  double expected_total = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = std::exp((double(x[i]) - m) * 0.5);
    expected_total += e;
    EXPECT_NEAR(out[i], e, 2e-6 * e + 1e-30) << i;
  }
  EXPECT_NEAR(total, expected_total, 1e-6 * expected_total);
  EXPECT_NEAR(blocks[0] + blocks[1] + blocks[2], total, 1e-9 * total);
  const std::vector<float> special = {0.0f, -kInf, std::nanf(""), -100.0f};
  sampling::ExpShifted(special.data(), 4, 0.0f, 1.0f, out.data(), nullptr);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 0.0f);

  std::vector<TokenLogprob> top;
  SamplerWorkspace ws;
  const std::vector<float> v = {1, 5, 3, 5, std::nanf(""), 4, 5};
  sampling::TopN(v.data(), int64_t(v.size()), 4, 1.0, &ws, &top);
  EXPECT_EQ(top, (std::vector<TokenLogprob>{{1, 4}, {3, 4}, {6, 4}, {5, 3}}));
  sampling::TopN(v.data(), 2, 20, 0.0, &ws, &top);
  EXPECT_EQ(top, (std::vector<TokenLogprob>{{1, 5}, {0, 1}}));
}

}  // namespace
}  // namespace atom
