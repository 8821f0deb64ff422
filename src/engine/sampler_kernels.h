// The vocabulary-wide loops under the sampler (engine/sampler.h): block maxima, exp with block
// sums, candidate prefilters, exact top-by-rank selection without a sort, and top-N. Internal to
// the engine; every function is a pure function of its inputs (no global state), so rows can run
// on any thread.
//
// Ranking is always "larger value first, then lower token id", the order top-k, top-p and the
// logprobs lists are defined in. NaN values are never selected by the prefilters.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/sampler.h"

namespace atom::sampling {

// The largest of x[0, n), NaN ignored; -inf when n == 0 or nothing else is there.
float MaxValue(const float* x, int64_t n);

// The first index of the largest of x[0, n) (NaN ignored); -1 when there is no value above -inf.
// REQUIRES: n < 2^31.
int64_t ArgMax(const float* x, int64_t n);

// maxima[b] = MaxValue over block b of kMaxBlock entries (the last block may be short); returns
// the overall maximum.
inline constexpr int64_t kMaxBlock = 64;
float BlockMaxima(const float* x, int64_t n, std::vector<float>* maxima);

// A superset of the top k of x[0, n) as ascending ids: every i with x[i] >= t, where t is the
// k-th largest block maximum (at least k entries reach it, so the k-th largest entry does too).
// Only blocks whose maximum reaches t are read. Falls back to all of [0, n) when k exceeds half
// the number of blocks. REQUIRES: `maxima` from BlockMaxima(x, n), 1 <= k <= n.
void TopCandidates(const float* x, int64_t n, int64_t k, const std::vector<float>& maxima,
                   SamplerWorkspace* ws, std::vector<int32_t>* out);

// exp((x[i] - shift) * scale) with a vectorised single-precision exp (Cephes' polynomial, a few
// ulp). Entries whose argument is below -87.3 (float's normal range), -inf or NaN give 0; an
// argument of 0 gives exactly 1.
// REQUIRES: (x[i] - shift) * scale <= 0 for every i where it is not NaN.
// Writes the values to `out` (if not null) and, per block of kExpBlock entries, their sum to
// block_sums[b] (if not null; ceil(n / kExpBlock) entries). Returns the sum of all values
// (the block sums added in block order). With `thresholds` (num_thresholds == kMaxThresholds
// of them), also sets masses[j] = the sum of the values >= thresholds[j].
inline constexpr int64_t kExpBlock = 1024;
inline constexpr int kMaxThresholds = 4;
double ExpShifted(const float* x, int64_t n, float shift, float scale, float* out,
                  double* block_sums, const float* thresholds = nullptr, int num_thresholds = 0,
                  double* masses = nullptr);

// The same values for a list of ids: out[ids[j]] = exp((x[ids[j]] - shift) * scale).
void ExpShiftedGather(const float* x, const int32_t* ids, int64_t n, float shift, float scale,
                      float* out);

// Every i in [0, n) with e_i = exp((x[i] - shift) * scale) >= threshold (computed as
// ExpShifted does), ascending; writes e[i] = e_i for those i only. Saves storing and rereading
// a whole row of probabilities when only a few survive a threshold.
void GatherExpAtLeast(const float* x, int64_t n, float shift, float scale, float threshold,
                      SamplerWorkspace* ws, std::vector<int32_t>* out, float* e);

// Every i in [0, n) with x[i] >= threshold, ascending.
void GatherAtLeast(const float* x, int64_t n, float threshold, SamplerWorkspace* ws,
                   std::vector<int32_t>* out);

// Selection of a prefix of the ranking by (value descending, id ascending) over the input set
// (ids == nullptr: all of [0, n); else the n ascending ids in `ids`). Item j is kept iff the
// total weight of the items ranked before it is < target; weights are 1 (SelectTopCount,
// target = k: exactly the top k) or weights[id] (SelectTopMass: the top-p nucleus for
// target = p * total mass). The kept ids go to `out` in ascending order. SelectTopMass returns
// whether the target was reached; when the input's weight stays below it, all of it is kept.
//
// Exact and O(n): a three-level radix select (11, 11, 10 bits) on an order-preserving integer
// key of the value, histogramming weight per bucket; only the boundary bucket's members are
// refined, and items with equal values are split by id. (Inputs of under 512 items are sorted
// instead: cheaper than clearing the histograms.)
void SelectTopCount(const float* values, const int32_t* ids, int64_t n, int64_t k,
                    SamplerWorkspace* ws, std::vector<int32_t>* out);
bool SelectTopMass(const float* values, const float* weights, const int32_t* ids, int64_t n,
                   double target, SamplerWorkspace* ws, std::vector<int32_t>* out);

// The top min(top_n, n) of values[0, n), sorted by (value descending, id ascending), with each
// value minus `log_normalizer` (in double) as its logprob.
void TopN(const float* values, int64_t n, int top_n, double log_normalizer, SamplerWorkspace* ws,
          std::vector<TokenLogprob>* out);

}  // namespace atom::sampling
