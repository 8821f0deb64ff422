#include "engine/sampler.h"

#include <cmath>
#include <iterator>
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

// Probability thresholds (relative to the most probable token) for the top-p prefilter.
constexpr float kTopPThresholds[] = {0.5f, 0.0625f, 3.90625e-3f, 6.103515625e-5f};
constexpr int kNumTopPThresholds = int(std::size(kTopPThresholds));
static_assert(kNumTopPThresholds == sampling::kMaxThresholds);

// Steps 3-7 of the header for a non-greedy request, on the processed logits `w`. Sets
// *exp_sum_at_t1 to sum(exp(w - max)) when that was computed in passing over the whole
// vocabulary with temperature 1 (so the logprobs can reuse it), else leaves it alone.
int32_t Draw(const float* w, int64_t vocab, const SampleRow& row, SamplerWorkspace* ws,
             double* exp_sum_at_t1) {
  const SamplingParams& p = *row.params;
  const bool top_k = p.top_k_enabled(vocab);
  const bool top_p = p.top_p < 1.0f;
  const float m =
      top_k ? sampling::BlockMaxima(w, vocab, &ws->block_maxima) : sampling::MaxValue(w, vocab);
  // Everything banned, or an infinite logit: no distribution to draw from.
  if (!std::isfinite(m)) return GreedySample(w, vocab);
  const float scale = 1.0f / p.temperature;
  // A subnormal temperature leaves no room between the top logit and the rest: greedy.
  if (!std::isfinite(scale)) return GreedySample(w, vocab);
  ws->probs.resize(size_t(vocab));
  float* e = ws->probs.data();
  std::vector<int32_t>& kept = ws->kept;
  std::vector<int32_t>& next = ws->kept_next;
  bool dense = true;
  double total = 0;
  double masses[sampling::kMaxThresholds];
  if (top_k) {
    // Only blocks that can hold a top-k token are read; the exact top k come from those.
    sampling::TopCandidates(w, vocab, p.top_k, ws->block_maxima, ws, &next);
    const bool everything = int64_t(next.size()) == vocab;  // large k: no prefilter
    sampling::SelectTopCount(w, everything ? nullptr : next.data(), int64_t(next.size()), p.top_k,
                             ws, &kept);
    sampling::ExpShiftedGather(w, kept.data(), int64_t(kept.size()), m, scale, e);
    for (const int32_t id : kept) total += double(e[id]);
    dense = false;
  } else {
    // With a truncation to follow, only the survivors' probabilities are stored (recomputed as
    // they are gathered); otherwise all of them, for the draw.
    const bool store = !top_p && p.min_p == 0.0f;
    ws->block_sums.resize(size_t((vocab + sampling::kExpBlock - 1) / sampling::kExpBlock));
    total = sampling::ExpShifted(w, vocab, m, scale, store ? e : nullptr, ws->block_sums.data(),
                                 top_p ? kTopPThresholds : nullptr, top_p ? kNumTopPThresholds : 0,
                                 masses);
    if (scale == 1.0f) *exp_sum_at_t1 = total;
    if (!store && !top_p) {  // min-p alone: gather what passes it (the filter below keeps all)
      sampling::GatherExpAtLeast(w, vocab, m, scale, p.min_p, ws, &kept, e);
      dense = false;
    }
  }
  if (top_p) {
    // Ranked by probability; the nucleus is what precedes p * total.
    const double target = double(p.top_p) * total;
    if (dense) {
      // Prefilter: the tokens above the highest threshold whose mass surely reaches the target
      // are a prefix of the ranking that holds the nucleus. Should rounding leave them short,
      // the whole vocabulary is selected from instead, so the result is always exact.
      bool done = false;
      for (int t = 0; t < kNumTopPThresholds; ++t) {
        if (masses[t] < target * (1.0 + 1e-5)) continue;
        sampling::GatherExpAtLeast(w, vocab, m, scale, kTopPThresholds[t], ws, &next, e);
        done = sampling::SelectTopMass(e, e, next.data(), int64_t(next.size()), target, ws, &kept);
        break;
      }
      if (!done) {
        sampling::ExpShifted(w, vocab, m, scale, e, nullptr);
        sampling::SelectTopMass(e, e, nullptr, vocab, target, ws, &kept);
      }
    } else {
      sampling::SelectTopMass(e, e, kept.data(), int64_t(kept.size()), target, ws, &next);
      std::swap(kept, next);
    }
    dense = false;
  }
  if (p.min_p > 0.0f) {
    // The most probable token is always still kept and its e is exactly exp(0) = 1, so the
    // threshold min_p * e_max is min_p itself. (The kept set is sparse by now.)
    next.clear();
    for (const int32_t id : kept) {
      if (e[id] >= p.min_p) next.push_back(id);
    }
    std::swap(kept, next);
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
  return int32_t(std::max<int64_t>(0, sampling::ArgMax(logits, n)));
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
    sampling::TopN(row.logits, vocab, *p.logprobs, log_z, ws, &result->top_logprobs);
    result->logprob = float(double(row.logits[result->token]) - log_z);
  }
}

SampleResult Sample(const SampleRow& row, int64_t vocab) {
  SamplerWorkspace ws;
  SampleResult result;
  Sample(row, vocab, &ws, &result);
  return result;
}

void SampleBatch(std::span<const SampleRow> rows, int64_t vocab, std::span<SampleResult> results) {
  ATOM_CHECK(rows.size() == results.size());
  ThreadPool::Global().ParallelFor(int64_t(rows.size()), 1, [&](int64_t begin, int64_t end) {
    // One workspace per thread, kept for the thread's life (O(vocab) floats).
    thread_local SamplerWorkspace ws;
    for (int64_t i = begin; i < end; ++i) Sample(rows[size_t(i)], vocab, &ws, &results[size_t(i)]);
  });
}

void ComputeLogprobs(const float* logits, int64_t vocab, int32_t token, int top_n,
                     float* token_logprob, std::vector<TokenLogprob>* top) {
  thread_local SamplerWorkspace ws;
  const double log_z = LogNormalizer(logits, vocab, -1);
  sampling::TopN(logits, vocab, top_n, log_z, &ws, top);
  *token_logprob = float(double(logits[token]) - log_z);
}

}  // namespace atom
