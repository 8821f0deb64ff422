// The vocabulary-wide loops under the sampler (engine/sampler.h): max, exp with block sums,
// exact top-by-rank selection without a sort, and top-N. Internal to the engine; every function
// is a pure function of its inputs (no global state), so rows can run on any thread.
//
// Ranking is always "larger value first, then lower token id", the order top-k, top-p and the
// logprobs lists are defined in.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/sampler.h"

namespace atom::sampling {

// The largest of x[0, n), NaN ignored; -inf when n == 0 or nothing else is there.
float MaxValue(const float* x, int64_t n);

// The first i with x[i] == value, or -1.
int64_t FindFirst(const float* x, int64_t n, float value);

// exp((x[i] - shift) * scale) with a vectorised single-precision exp (Cephes' polynomial, a few
// ulp). Entries whose argument is below -87.3 (float's normal range), -inf or NaN give 0; an
// argument of 0 gives exactly 1.
// REQUIRES: (x[i] - shift) * scale <= 0 for every i where it is not NaN.
// Writes the values to `out` (if not null) and, per block of kExpBlock entries, their sum to
// block_sums[b] (if not null; ceil(n / kExpBlock) entries). Returns the sum of all values
// (the block sums added in block order).
inline constexpr int64_t kExpBlock = 1024;
double ExpShifted(const float* x, int64_t n, float shift, float scale, float* out,
                  double* block_sums);

// The same values for a list of ids: out[ids[j]] = exp((x[ids[j]] - shift) * scale).
void ExpShiftedGather(const float* x, const int32_t* ids, int64_t n, float shift, float scale,
                      float* out);

// Selection of a prefix of the ranking by (value descending, id ascending) over the input set
// (ids == nullptr: all of [0, n); else the n ascending ids in `ids`). Item j is kept iff the
// total weight of the items ranked before it is < target; weights are 1 (SelectTopCount,
// target = k: exactly the top k) or weights[id] (SelectTopMass, target = fraction * the total
// weight of the input: the top-p nucleus). The kept ids go to `out` in ascending order.
//
// Exact and O(n): a three-level radix select (11, 11, 10 bits) on an order-preserving integer
// key of the value, histogramming weight per bucket; only the boundary bucket's members are
// refined, and items with equal values are split by id. (Inputs of under 512 items are sorted
// instead: cheaper than clearing the histograms.)
void SelectTopCount(const float* values, const int32_t* ids, int64_t n, int64_t k,
                    SamplerWorkspace* ws, std::vector<int32_t>* out);
void SelectTopMass(const float* values, const float* weights, const int32_t* ids, int64_t n,
                   double fraction, SamplerWorkspace* ws, std::vector<int32_t>* out);

// The top min(top_n, n) of values[0, n), sorted by (value descending, id ascending), with each
// value minus `log_normalizer` (in double) as its logprob. NaN values are never selected.
void TopN(const float* values, int64_t n, int top_n, double log_normalizer,
          std::vector<TokenLogprob>* out);

}  // namespace atom::sampling
