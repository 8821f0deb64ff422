#include "engine/sampler.h"

#include <cmath>
#include <limits>
#include <utility>

#include "core/check.h"
#include "core/thread_pool.h"
#include "engine/random.h"
#include "engine/sampler_kernels.h"

namespace atom {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The first token, in ascending id order over the block sums' blocks, whose cumulative
// probability exceeds `target`. Rounding between the lane-ordered block sums and the sequential
// walk can leave a block's walk short; it then ends on the block's last non-zero entry.
int32_t DrawDense(const float* e, const double* block_sums, int64_t vocab, double u) {
  const int64_t num_blocks = (vocab + sampling::kExpBlock - 1) / sampling::kExpBlock;
  double total = 0;
  for (int64_t b = 0; b < num_blocks; ++b) total += block_sums[b];
  const double target = u * total;
  double cum = 0;
  for (int64_t b = 0; b < num_blocks; ++b) {
    if (cum + block_sums[b] <= target && b + 1 < num_blocks) {
      cum += block_sums[b];
      continue;
    }
    const int64_t begin = b * sampling::kExpBlock;
    const int64_t end = std::min(vocab, begin + sampling::kExpBlock);
    int64_t last_nonzero = -1;
    for (int64_t i = begin; i < end; ++i) {
      if (e[i] <= 0.0f) continue;
      cum += double(e[i]);
      last_nonzero = i;
      if (cum > target) return int32_t(i);
    }
    if (last_nonzero >= 0) return int32_t(last_nonzero);
    break;
  }
  // Only reachable through rounding at the very end: the last token with any probability.
  for (int64_t i = vocab - 1; i >= 0; --i) {
    if (e[i] > 0.0f) return int32_t(i);
  }
  return 0;
}

// The same over an ascending list of kept ids.
int32_t DrawSparse(const float* e, const std::vector<int32_t>& kept, double u) {
  double total = 0;
  for (const int32_t id : kept) total += double(e[id]);
  const double target = u * total;
  double cum = 0;
  int32_t last_nonzero = kept.front();
  for (const int32_t id : kept) {
    if (e[id] <= 0.0f) continue;
    cum += double(e[id]);
    last_nonzero = id;
    if (cum > target) return id;
  }
  return last_nonzero;
}

// Steps 3-7 of the header for a non-greedy request, on the processed logits `w`. Sets
// *raw_exp_sum to sum(exp(w - max)) when that was computed in passing over the whole
// vocabulary with temperature 1 (so the logprobs can reuse it), else leaves it alone.
int32_t Draw(const float* w, int64_t vocab, const SampleRow& row, SamplerWorkspace* ws,
             double* exp_sum_at_t1) {
  const SamplingParams& p = *row.params;
  const float m = sampling::MaxValue(w, vocab);
  // Everything banned, or an infinite logit: no distribution to draw from.
  if (!std::isfinite(m)) return GreedySample(w, vocab);
  const float scale = 1.0f / p.temperature;
  ws->probs.resize(size_t(vocab));
  float* e = ws->probs.data();
  std::vector<int32_t>& kept = ws->kept;
  bool dense = true;
  if (p.top_k_enabled(vocab)) {
    sampling::SelectTopCount(w, nullptr, vocab, p.top_k, ws, &kept);
    sampling::ExpShiftedGather(w, kept.data(), int64_t(kept.size()), m, scale, e);
    dense = false;
  } else {
    ws->block_sums.resize(size_t((vocab + sampling::kExpBlock - 1) / sampling::kExpBlock));
    const double sum = sampling::ExpShifted(w, vocab, m, scale, e, ws->block_sums.data());
    if (scale == 1.0f) *exp_sum_at_t1 = sum;
  }
  if (p.top_p < 1.0f) {
    sampling::SelectTopMass(w, e, dense ? nullptr : kept.data(),
                            dense ? vocab : int64_t(kept.size()), p.top_p, ws, &ws->kept_next);
    std::swap(kept, ws->kept_next);
    dense = false;
  }
  if (p.min_p > 0.0f) {
    // The most probable token is always still kept and its e is exactly exp(0) = 1, so the
    // threshold min_p * e_max is min_p itself.
    std::vector<int32_t>& next = ws->kept_next;
    next.clear();
    if (dense) {
      for (int64_t i = 0; i < vocab; ++i) {
        if (e[i] >= p.min_p) next.push_back(int32_t(i));
      }
    } else {
      for (const int32_t id : kept) {
        if (e[id] >= p.min_p) next.push_back(id);
      }
    }
    std::swap(kept, next);
    dense = false;
  }
  const double u = PhiloxUniform(row.seed, row.seq_index, uint64_t(row.position));
  return dense ? DrawDense(e, ws->block_sums.data(), vocab, u) : DrawSparse(e, kept, u);
}

// log(sum(exp(logits))) in double, reusing a sum of exp(logits - max) when one is known.
double LogNormalizer(const float* logits, int64_t vocab, double exp_sum) {
  const float m = sampling::MaxValue(logits, vocab);
  if (exp_sum < 0) exp_sum = sampling::ExpShifted(logits, vocab, m, 1.0f, nullptr, nullptr);
  return double(m) + std::log(exp_sum);
}

}  // namespace

int32_t GreedySample(const float* logits, int64_t n) {
  const float m = sampling::MaxValue(logits, n);
  if (!(m > -kInf)) return 0;
  return int32_t(sampling::FindFirst(logits, n, m));
}

void Sample(const SampleRow& row, int64_t vocab, SamplerWorkspace* ws, SampleResult* result) {
  const SamplingParams& p = *row.params;
  // 1-2: everything that changes individual logits, on a copy.
  const float* w = row.logits;
  const bool ban = row.position < p.min_tokens &&
                   (!p.stop_token_ids.empty() || (!p.ignore_eos && !row.eos_token_ids.empty()));
  const bool penalize = p.has_penalties();
  ATOM_CHECK_MSG(!penalize || row.penalties != nullptr, "penalties need a PenaltyState");
  if (!p.logit_bias.empty() || ban || penalize) {
    ws->logits.assign(row.logits, row.logits + vocab);
    float* m = ws->logits.data();
    for (const auto& [token, bias] : p.logit_bias) m[token] += bias;
    if (ban) {
      for (const int32_t token : p.stop_token_ids) m[token] = -kInf;
      if (!p.ignore_eos) {
        for (const int32_t token : row.eos_token_ids) {
          ATOM_CHECK(0 <= token && token < vocab);
          m[token] = -kInf;
        }
      }
    }
    if (penalize) row.penalties->Apply(p, m);
    w = m;
  }
  double exp_sum_at_t1 = -1;
  if (p.greedy()) {
    result->token = GreedySample(w, vocab);
  } else {
    result->token = Draw(w, vocab, row, ws, &exp_sum_at_t1);
  }
  result->top_logprobs.clear();
  result->logprob = 0.0f;
  if (p.logprobs) {
    // The sum is only reusable when it was taken over the raw logits.
    const double log_z = LogNormalizer(row.logits, vocab, w == row.logits ? exp_sum_at_t1 : -1);
    sampling::TopN(row.logits, vocab, *p.logprobs, log_z, &result->top_logprobs);
    result->logprob = float(double(row.logits[result->token]) - log_z);
  }
}

SampleResult Sample(const SampleRow& row, int64_t vocab) {
  SamplerWorkspace ws;
  SampleResult result;
  Sample(row, vocab, &ws, &result);
  return result;
}

void SampleBatch(std::span<const SampleRow> rows, int64_t vocab,
                 std::span<SampleResult> results) {
  ATOM_CHECK(rows.size() == results.size());
  ThreadPool::Global().ParallelFor(int64_t(rows.size()), 1, [&](int64_t begin, int64_t end) {
    // One workspace per thread, kept for the thread's life (O(vocab) floats).
    thread_local SamplerWorkspace ws;
    for (int64_t i = begin; i < end; ++i) Sample(rows[size_t(i)], vocab, &ws, &results[size_t(i)]);
  });
}

void ComputeLogprobs(const float* logits, int64_t vocab, int32_t token, int top_n,
                     float* token_logprob, std::vector<TokenLogprob>* top) {
  const double log_z = LogNormalizer(logits, vocab, -1);
  sampling::TopN(logits, vocab, top_n, log_z, top);
  *token_logprob = float(double(logits[token]) - log_z);
}

}  // namespace atom
