// Tests of the logit processing around the draw: penalties (engine/penalty_state.h),
// logit_bias, min_tokens, seeded reproducibility in batches, logprobs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/thread_pool.h"
#include "engine/penalty_state.h"
#include "engine/sampler.h"
#include "sampler_test_util.h"

namespace atom {
namespace {

// ---- Penalties ------------------------------------------------------------------------------

TEST(SamplerPenaltyTest, MatchesHandComputation) {
  PenaltyState state(std::vector<int32_t>{1, 2, 2});
  for (int32_t t : {2, 3, 3}) state.AddOutputToken(t);
  EXPECT_EQ(state.num_output_tokens(), 3);
  EXPECT_EQ(state.num_distinct_tokens(), 3);
  EXPECT_EQ(state.OutputCount(3), 2);
  EXPECT_EQ(state.OutputCount(1), 0);
  EXPECT_TRUE(state.InPrompt(2));
  EXPECT_FALSE(state.InPrompt(3));

  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  std::vector<float> logits = {1.0f, 2.0f, -1.0f, 3.0f, 0.5f, -2.0f};
  state.Apply(p, logits.data());
  // 0: unseen. 1: prompt only, 2 / 2. 2: prompt + once in the output, -1 * 2 - 0.5 - 0.25.
  // 3: twice in the output, 3 / 2 - 2 * 0.5 - 0.25. 4, 5: unseen.
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 1.0f, -2.75f, 0.25f, 0.5f, -2.0f}));
}

TEST(SamplerPenaltyTest, SampleAppliesThem) {
  PenaltyState state(std::vector<int32_t>{1, 2, 2});
  for (int32_t t : {2, 3, 3}) state.AddOutputToken(t);
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<float> logits = {1.0f, 2.0f, -1.0f, 3.0f, 0.5f, -2.0f};
  p.temperature = 0;  // processed: 1, 1, -2.75, 0.25, 0.5, -2: a tie, the lower id wins
  EXPECT_EQ(Sample(Row(logits, p, 0, 3, &state), 6).token, 0);
  p.temperature = 1;
  std::vector<double> expected;
  for (float x : {1.0f, 1.0f, -2.75f, 0.25f, 0.5f, -2.0f}) expected.push_back(std::exp(x));
  std::vector<int64_t> counts(6);
  for (int64_t pos = 0; pos < 40000; ++pos) {
    ++counts[size_t(Sample(Row(logits, p, 5, pos, &state), 6).token)];
  }
  ExpectFrequencies(counts, expected);
}

TEST(SamplerPenaltyTest, IncrementalCountsMatchARecount) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> token(0, 20000);
  std::vector<int32_t> prompt(3000);
  for (int32_t& t : prompt) t = token(rng);
  PenaltyState state(prompt);
  std::map<int32_t, int32_t> counts;
  for (int i = 0; i < 5000; ++i) {
    const int32_t t = i % 3 == 0 ? prompt[size_t(i) % prompt.size()] : token(rng);
    state.AddOutputToken(t);
    ++counts[t];
  }
  PenaltyState copy = state;  // n > 1 forks copy the state
  copy.AddOutputToken(counts.begin()->first);
  const std::set<int32_t> in_prompt(prompt.begin(), prompt.end());
  for (int32_t t = 0; t <= 20000; ++t) {
    const auto it = counts.find(t);
    ASSERT_EQ(state.OutputCount(t), it == counts.end() ? 0 : it->second) << t;
    ASSERT_EQ(state.InPrompt(t), in_prompt.count(t) > 0) << t;
  }
  EXPECT_EQ(copy.OutputCount(counts.begin()->first), counts.begin()->second + 1);
  EXPECT_EQ(state.num_output_tokens(), 5000);
}

// ---- logit_bias and min_tokens ----------------------------------------------------------------

TEST(SamplerProcessingTest, LogitBiasIsAddedFirst) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  SamplingParams p;
  p.temperature = 0;
  p.logit_bias = {{0, 5.0f}};
  EXPECT_EQ(SampleToken(logits, p, 0, 0), 0);
  p.logit_bias = {{2, -100.0f}};
  EXPECT_EQ(SampleToken(logits, p, 0, 0), 1);
  p.temperature = 1;
  p.logit_bias = {{0, 1.5f}, {2, -0.5f}};
  ExpectFrequencies(Histogram(logits, p, 30000), {std::exp(1.5), std::exp(1.0), std::exp(1.5)});
}

TEST(SamplerProcessingTest, MinTokensBansEosAndStopIds) {
  const std::vector<float> logits = {0.0f, 1.0f, 10.0f, 9.0f};
  const std::vector<int32_t> eos = {2};
  SamplingParams p;
  p.temperature = 0;
  p.min_tokens = 2;
  p.stop_token_ids = {3};
  auto token_at = [&](int64_t pos) {
    SampleRow row = Row(logits, p, 0, pos);
    row.eos_token_ids = eos;
    return Sample(row, 4).token;
  };
  EXPECT_EQ(token_at(0), 1);
  EXPECT_EQ(token_at(1), 1);
  EXPECT_EQ(token_at(2), 2);  // min_tokens reached
  p.ignore_eos = true;        // EOS is not a stop token then, so it is not banned
  EXPECT_EQ(token_at(0), 2);
  p.ignore_eos = false;
  p.temperature = 1;
  for (int64_t pos = 0; pos < 2; ++pos) {
    for (uint64_t seed = 0; seed < 500; ++seed) {
      SampleRow row = Row(logits, p, seed, pos);
      row.eos_token_ids = eos;
      const int32_t t = Sample(row, 4).token;
      ASSERT_TRUE(t == 0 || t == 1) << t;
    }
  }
  // Everything banned: no distribution is left; the sampler still returns a token.
  p.stop_token_ids = {0, 1, 3};
  SampleRow row = Row(logits, p, 0, 0);
  row.eos_token_ids = eos;
  const int32_t t = Sample(row, 4).token;
  EXPECT_TRUE(t >= 0 && t < 4);
}

// ---- Seeds and batches -------------------------------------------------------------------------

TEST(SamplerSeedTest, SameTokensWhateverTheBatch) {
  constexpr int64_t kVocab = 5000;
  std::vector<SamplingParams> params(6);
  params[1].top_k = 40;
  params[2].top_p = 0.8f;
  params[2].temperature = 0.7f;
  params[3].min_p = 0.05f;
  params[4].frequency_penalty = 1.0f;
  params[4].repetition_penalty = 1.3f;
  params[5].top_k = 100;
  params[5].top_p = 0.9f;
  params[5].min_p = 0.01f;
  params[5].logprobs = 3;
  PenaltyState state(std::vector<int32_t>{1, 2, 3, 4});
  state.AddOutputToken(7);
  std::vector<std::vector<float>> logits;
  std::vector<SampleRow> rows;
  for (size_t i = 0; i < 24; ++i) {
    logits.push_back(RandomLogits(kVocab, uint32_t(i), 1.0f));
  }
  for (size_t i = 0; i < 24; ++i) {
    SampleRow row = Row(logits[i], params[i % 6], 1000 + i / 2, int64_t(i % 5), &state);
    row.seq_index = uint32_t(i % 3);
    rows.push_back(row);
  }
  std::vector<SampleResult> alone(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) alone[i] = Sample(rows[i], kVocab);

  std::mt19937 rng(1);
  for (int trial = 0; trial < 5; ++trial) {
    // A random subset in random order, each row possibly twice.
    std::vector<size_t> pick;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rng() % 3 != 0) pick.push_back(i);
      if (rng() % 5 == 0) pick.push_back(i);
    }
    std::shuffle(pick.begin(), pick.end(), rng);
    std::vector<SampleRow> batch;
    for (size_t i : pick) batch.push_back(rows[i]);
    std::vector<SampleResult> results(batch.size());
    SampleBatch(batch, kVocab, results);
    for (size_t j = 0; j < pick.size(); ++j) {
      EXPECT_EQ(results[j].token, alone[pick[j]].token) << "row " << pick[j];
      EXPECT_EQ(results[j].logprob, alone[pick[j]].logprob);
      EXPECT_EQ(results[j].top_logprobs, alone[pick[j]].top_logprobs);
    }
  }
}

TEST(SamplerSeedTest, PositionsSeedsAndSequencesDrawDifferently) {
  const std::vector<float> flat(1000, 0.0f);  // uniform: every draw is a fresh token
  SamplingParams p;
  std::set<int32_t> by_position, by_seed, by_sequence;
  for (int64_t i = 0; i < 50; ++i) {
    by_position.insert(SampleToken(flat, p, 7, i));
    by_seed.insert(SampleToken(flat, p, uint64_t(i), 3));
    SampleRow row = Row(flat, p, 7, 3);
    row.seq_index = uint32_t(i);
    by_sequence.insert(Sample(row, 1000).token);
  }
  EXPECT_GT(by_position.size(), 40u);
  EXPECT_GT(by_seed.size(), 40u);
  EXPECT_GT(by_sequence.size(), 40u);
  EXPECT_EQ(SampleToken(flat, p, 7, 3), SampleToken(flat, p, 7, 3));
}

// ---- Logprobs -----------------------------------------------------------------------------------

// The log-softmax of `logits` in double.
std::vector<double> LogSoftmax(const std::vector<float>& logits) {
  const double m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - m);
  std::vector<double> out;
  for (float x : logits) out.push_back(double(x) - m - std::log(sum));
  return out;
}

void ExpectLogprobsOfRawLogits(const std::vector<float>& logits, const SampleResult& r, int n) {
  const std::vector<double> ref = LogSoftmax(logits);
  EXPECT_NEAR(r.logprob, ref[size_t(r.token)], 2e-5);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  ASSERT_EQ(r.top_logprobs.size(), size_t(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(r.top_logprobs[size_t(i)].token, order[size_t(i)]) << i;
    EXPECT_NEAR(r.top_logprobs[size_t(i)].logprob, ref[size_t(order[size_t(i)])], 2e-5) << i;
  }
}

TEST(SamplerLogprobsTest, LogSoftmaxOfTheRawLogits) {
  for (int64_t vocab : {50, 201088}) {
    std::vector<float> logits = RandomLogits(vocab, 17);
    const float top = *std::max_element(logits.begin(), logits.end());
    logits[10] = logits[20] = top + 1;  // a tie at the top: the lower id first
    for (int variant = 0; variant < 4; ++variant) {
      SamplingParams p;
      p.logprobs = 5;
      if (variant == 1) {  // processing changes the draw, not the reported logprobs
        p.temperature = 0.5f;
        p.top_k = 10;
        p.logit_bias = {{3, 2.0f}};
      }
      if (variant == 2) {  // the sampled token is far outside the top 5
        p.temperature = 0;
        p.logit_bias = {{3, 100.0f}};
      }
      if (variant == 3) p.logprobs = 0;
      const SampleResult r = Sample(Row(logits, p, 11, 0), vocab);
      if (variant == 2) EXPECT_EQ(r.token, 3);
      ExpectLogprobsOfRawLogits(logits, r, *p.logprobs);
    }
    float lp;
    std::vector<TokenLogprob> top_list;
    ComputeLogprobs(logits.data(), vocab, 7, 20, &lp, &top_list);
    SampleResult r;
    r.token = 7;
    r.logprob = lp;
    r.top_logprobs = top_list;
    ExpectLogprobsOfRawLogits(logits, r, 20);
  }
  SamplingParams p;  // without logprobs nothing is reported
  const SampleResult r = Sample(Row(RandomLogits(50, 1), p, 0, 0), 50);
  EXPECT_EQ(r.logprob, 0.0f);
  EXPECT_TRUE(r.top_logprobs.empty());
}

}  // namespace
}  // namespace atom
