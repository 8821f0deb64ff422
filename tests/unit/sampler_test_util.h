// Helpers shared by the sampler tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "engine/sampler.h"

namespace atom {

inline constexpr float kInf = std::numeric_limits<float>::infinity();

inline std::vector<float> RandomLogits(int64_t vocab, uint32_t seed, float stddev = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (float& x : logits) x = dist(rng);
  return logits;
}

// Logits whose softmax is `probs` (up to a constant).
inline std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(p > 0 ? float(std::log(p)) : -kInf);
  return logits;
}

inline SampleRow Row(const std::vector<float>& logits, const SamplingParams& params, uint64_t seed,
                     int64_t position, const PenaltyState* penalties = nullptr) {
  SampleRow row;
  row.logits = logits.data();
  row.params = &params;
  row.penalties = penalties;
  row.seed = seed;
  row.position = position;
  return row;
}

inline int32_t SampleToken(const std::vector<float>& logits, const SamplingParams& params,
                           uint64_t seed, int64_t position) {
  return Sample(Row(logits, params, seed, position), int64_t(logits.size())).token;
}

// Draws `draws` tokens at positions 0.. under `seed` and returns the count per token.
inline std::vector<int64_t> Histogram(const std::vector<float>& logits,
                                      const SamplingParams& params, int64_t draws,
                                      uint64_t seed = 1234) {
  std::vector<int64_t> counts(logits.size());
  SamplerWorkspace ws;
  SampleResult result;
  for (int64_t i = 0; i < draws; ++i) {
    Sample(Row(logits, params, seed, i), int64_t(logits.size()), &ws, &result);
    ++counts[size_t(result.token)];
  }
  return counts;
}

// Every count is zero outside `expected`'s support and within 5 standard deviations (plus a
// little slack) of draws * expected[i] inside it. `expected` need not be normalised.
inline void ExpectFrequencies(const std::vector<int64_t>& counts, std::vector<double> expected) {
  const double total = std::accumulate(expected.begin(), expected.end(), 0.0);
  const double draws = double(std::accumulate(counts.begin(), counts.end(), int64_t(0)));
  for (size_t i = 0; i < counts.size(); ++i) {
    const double p = expected[i] / total;
    if (p == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " is outside the allowed set";
      continue;
    }
    const double sigma = std::sqrt(draws * p * (1 - p));
    EXPECT_NEAR(double(counts[i]), draws * p, 5 * sigma + 2) << "token " << i;
  }
}

}  // namespace atom
