// Sampling: one sequence's next-token logits -> a token, per its SamplingParams.
//
// Sample() processes one logits row (f32, the whole vocabulary) in vLLM's order:
//   1. logit_bias is added; while the sequence has fewer than min_tokens output tokens, its
//      stop_token_ids and (unless ignore_eos) the model's EOS ids are set to -inf;
//   2. penalties (PenaltyState::Apply): repetition, then frequency and presence;
//   3. temperature 0: the argmax (ties to the lowest id) — no draw. Otherwise the logits are
//      turned into unnormalised probabilities e_i = exp((l_i - max) / temperature);
//   4. top-k keeps the k largest logits (ties: lower ids); 5. top-p keeps the smallest
//      most-probable prefix whose renormalised mass reaches top_p (token j, in order of e then
//      id, is kept iff the mass ranked before it is < top_p * the kept mass); 6. min-p keeps
//      e_i >= min_p * e_max;
//   7. the draw: u = PhiloxUniform(seed, seq_index, position) (engine/random.h); the token is
//      the first, in ascending id order over the kept set, whose cumulative e exceeds u * sum(e).
// Ties everywhere go to the lower token id, so a result depends on nothing but its inputs.
//
// Logprobs are the log-softmax of the RAW model logits (before bias, bans, penalties,
// temperature and truncation), as the OpenAI API and vLLM's default report them: they describe
// the model, whatever the request did to sample from it. The sampled token's logprob is always
// given when params.logprobs is set, even when it is not among the top ones.
//
// Cost per row, V = vocabulary (engine/sampler_kernels.h has the loops):
//   - greedy: one vectorised argmax pass (plus a copy when a bias, ban or penalty applies);
//   - temperature: one max pass and one vectorised exp pass that also sums 1024-entry blocks, so
//     the inverse-CDF walk reads one block;
//   - top-k: per-64-entry block maxima, then only the blocks whose maximum reaches the k-th
//     largest block maximum are read; the exact top k come from a radix select over those;
//   - top-p: the exp pass also sums the mass above a few thresholds (1/2, 1/16, 1/256, 1/16384
//     of the top probability); the tokens above the highest threshold whose mass reaches p are
//     gathered and the exact nucleus selected among them (radix select, no sort). When rounding
//     could leave that short, the whole vocabulary is selected from instead;
//   - logprobs: one more max + exp pass over the raw logits (shared with sampling at
//     temperature 1 without processing) and a block-maxima prefilter for the top N.
// A SamplerWorkspace keeps the O(V) scratch between calls, so a steady state allocates nothing
// except the returned top-logprob lists.
//
// backends/cuda/sample_rows.h does all of this on the GPU for models that sample on their device
// (Model::SupportsSampling), adding in this file's order where a result depends on it: a change
// to the semantics or to the summation order here must be made there too (tests/gpu/
// sample_rows_test.cc compares the two).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/penalty_state.h"
#include "engine/sampling_params.h"

namespace atom {

// The index of the largest of logits[0, n); ties go to the lowest index, NaN never wins (0 when
// every value is NaN or -inf). REQUIRES: n > 0.
int32_t GreedySample(const float* logits, int64_t n);

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
  bool operator==(const TokenLogprob&) const = default;
};

// One row to sample. Every pointer must stay valid for the call.
struct SampleRow {
  const float* logits = nullptr;           // [vocab] raw model logits, finite or -inf
  const SamplingParams* params = nullptr;  // validated against the vocabulary
  // Required when params->has_penalties(); ignored otherwise.
  const PenaltyState* penalties = nullptr;
  // The draw's coordinates (engine/random.h): the request's seed (params->seed, or one drawn
  // by DrawRequestSeed at admission), the sequence's index within the request, and the output
  // position being sampled (= the number of output tokens so far; also what min_tokens counts).
  uint64_t seed = 0;
  uint32_t seq_index = 0;
  int64_t position = 0;
  // The model's EOS ids, banned with stop_token_ids until min_tokens (unless ignore_eos).
  std::span<const int32_t> eos_token_ids;
};

struct SampleResult {
  int32_t token = -1;
  // With params.logprobs: the sampled token's logprob and the params.logprobs most likely
  // tokens (sorted by logprob descending, ties by lower id). Otherwise 0 and empty.
  float logprob = 0.0f;
  std::vector<TokenLogprob> top_logprobs;
};

// Scratch for Sample(); reuse one per thread to avoid O(vocab) allocations per call. Its
// contents mean nothing between calls.
struct SamplerWorkspace {
  std::vector<float> logits;       // processed logits when anything modifies them
  std::vector<float> probs;        // unnormalised probabilities, indexed by token id
  std::vector<double> block_sums;  // sums of probs per block (sampler_kernels.h)
  std::vector<int32_t> kept;       // the kept set as ascending ids
  std::vector<int32_t> kept_next;
  std::vector<int32_t> group;       // radix-select refinement
  std::vector<int32_t> gather_ids;  // GatherAtLeast's output buffer
  std::vector<double> histogram;
  std::vector<float> maxima_scratch;  // TopCandidates
  std::vector<float> block_maxima;
};

// Samples one row. REQUIRES: vocab > 0, row valid as documented on SampleRow.
void Sample(const SampleRow& row, int64_t vocab, SamplerWorkspace* ws, SampleResult* result);
SampleResult Sample(const SampleRow& row, int64_t vocab);  // with a temporary workspace

// Samples every row, in parallel on ThreadPool::Global() (one workspace per thread). Each
// result depends only on its own row: the batch and its order change nothing.
// REQUIRES: results.size() == rows.size().
void SampleBatch(std::span<const SampleRow> rows, int64_t vocab, std::span<SampleResult> results);

// The raw-logit log-softmax logprob of `token` and the top `top_n` (as in SampleResult), e.g.
// for prompt logprobs. REQUIRES: 0 <= token < vocab, top_n >= 0.
void ComputeLogprobs(const float* logits, int64_t vocab, int32_t token, int top_n,
                     float* token_logprob, std::vector<TokenLogprob>* top);

}  // namespace atom
