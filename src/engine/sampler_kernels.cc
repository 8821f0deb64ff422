#include "engine/sampler_kernels.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/check.h"

namespace atom::sampling {

namespace {

// GCC/Clang vector extensions: explicit 16-lane arithmetic the compiler maps onto the widest
// registers -march offers.
constexpr int kLanes = 16;
typedef float F32x16 __attribute__((vector_size(64)));
typedef int32_t I32x16 __attribute__((vector_size(64)));

constexpr float kInf = std::numeric_limits<float>::infinity();

F32x16 Load(const float* p) {
  F32x16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
void Store(float* p, F32x16 v) { std::memcpy(p, &v, sizeof(v)); }

// exp(x) for x <= 0 (Cephes expf): x = n ln2 + r, |r| <= ln2 / 2, exp(r) by a degree-7
// polynomial, 2^n through the exponent bits. Below -87.3, -inf and NaN give 0; exp(0) == 1.
F32x16 ExpNonPositive(F32x16 x) {
  const I32x16 valid = x >= -87.3f;  // false for NaN and -inf
  const F32x16 xc = valid ? x : F32x16{};
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const F32x16 t = xc * 1.44269504088896341f + kMagic;
  const F32x16 n = t - kMagic;
  const I32x16 ni = (I32x16)t - std::bit_cast<int32_t>(kMagic);
  F32x16 r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  F32x16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const F32x16 y = p * (r * r) + r + 1.0f;
  const F32x16 scale = (F32x16)((ni + 127) << 23);
  return (F32x16)((I32x16)(y * scale) & valid);
}

double SumLanes(F32x16 v) {
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += double(v[l]);
  return s;
}

// An integer key with the order of the float (-0 and +0 equal; NaN above +inf).
uint32_t OrderKey(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f + 0.0f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

constexpr int kNumLevels = 3;
constexpr int kShift[kNumLevels] = {21, 10, 0};
constexpr uint32_t kMask[kNumLevels] = {0x7FF, 0x7FF, 0x3FF};
constexpr int kBuckets = 2048;
constexpr int kCopies = 4;  // level-0 histogram copies break store-to-load chains

// The highest bucket at which the cumulative weight from the top reaches *remaining; subtracts
// the weight of the buckets above it. -1 if the total is below *remaining.
int FindBoundary(const double* hist, int num_buckets, double* remaining) {
  double cum = 0;
  for (int b = num_buckets - 1; b >= 0; --b) {
    if (cum + hist[b] >= *remaining) {
      *remaining -= cum;
      return b;
    }
    cum += hist[b];
  }
  return -1;
}

// Below this many items a sort is cheaper than clearing the radix histograms.
constexpr int64_t kSortBelow = 512;

// SelectTop by sorting, for small inputs (same contract).
template <typename IdAt, typename WeightFn>
bool SelectTopBySort(const float* values, int64_t n, IdAt id_at, WeightFn weight, double target,
                     SamplerWorkspace* ws, std::vector<int32_t>* out) {
  std::vector<int32_t>& ranked = ws->group;
  ranked.resize(size_t(n));
  for (int64_t j = 0; j < n; ++j) ranked[size_t(j)] = id_at(j);
  std::sort(ranked.begin(), ranked.end(), [values](int32_t a, int32_t b) {
    const uint32_t ka = OrderKey(values[a]), kb = OrderKey(values[b]);
    return ka != kb ? ka > kb : a < b;
  });
  out->clear();
  double cum = 0;
  for (const int32_t id : ranked) {
    if (cum >= target) break;
    out->push_back(id);
    cum += weight(id);
  }
  std::sort(out->begin(), out->end());
  return cum >= target;
}

// Returns whether the target was reached (false: the input's weight is below it, all kept).
template <bool kDense, typename WeightFn>
bool SelectTop(const float* values, const int32_t* ids, int64_t n, WeightFn weight, double target,
               SamplerWorkspace* ws, std::vector<int32_t>* out) {
  auto id_at = [&](int64_t j) { return kDense ? int32_t(j) : ids[j]; };
  if (n < kSortBelow) return SelectTopBySort(values, n, id_at, weight, target, ws, out);
  auto copy_all = [&] {
    out->resize(size_t(n));
    for (int64_t j = 0; j < n; ++j) (*out)[size_t(j)] = id_at(j);
    return false;
  };
  // Level 0 over the whole input.
  std::vector<double>& hist = ws->histogram;
  hist.assign(size_t(kCopies * kBuckets), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t id = id_at(j);
    hist[size_t((j % kCopies) * kBuckets + (OrderKey(values[id]) >> kShift[0]))] += weight(id);
  }
  for (int b = 0; b < kBuckets; ++b) {
    for (int c = 1; c < kCopies; ++c) hist[size_t(b)] += hist[size_t(c * kBuckets + b)];
  }
  double remaining = target;
  const int b0 = FindBoundary(hist.data(), kBuckets, &remaining);
  if (b0 < 0) return copy_all();

  // The boundary bucket's members, refined level by level. `prefix` holds the key bits fixed
  // so far; `bits` how many.
  std::vector<int32_t>& group = ws->group;
  group.clear();
  for (int64_t j = 0; j < n; ++j) {
    const int32_t id = id_at(j);
    if ((OrderKey(values[id]) >> kShift[0]) == uint32_t(b0)) group.push_back(id);
  }
  uint32_t prefix = uint32_t(b0);
  int bits = 32 - kShift[0];
  int32_t cutoff = std::numeric_limits<int32_t>::max();  // last kept id among the prefix's
  bool whole_group = false;
  for (int level = 1; level < kNumLevels && !whole_group; ++level) {
    const int num_buckets = int(kMask[level]) + 1;
    hist.assign(size_t(num_buckets), 0.0);
    for (const int32_t id : group) {
      hist[(OrderKey(values[id]) >> kShift[level]) & kMask[level]] += weight(id);
    }
    const int b = FindBoundary(hist.data(), num_buckets, &remaining);
    if (b < 0) {  // rounding left the group short of the target: keep all of it
      whole_group = true;
      break;
    }
    std::erase_if(group, [&](int32_t id) {
      return ((OrderKey(values[id]) >> kShift[level]) & kMask[level]) != uint32_t(b);
    });
    prefix = (prefix << (kShift[level - 1] - kShift[level])) | uint32_t(b);
    bits = 32 - kShift[level];
  }
  if (!whole_group) {  // equal keys: kept in id order while the weight before is < remaining
    double cum = 0;
    for (const int32_t id : group) {
      if (cum >= remaining) break;
      cutoff = id;
      cum += weight(id);
    }
  }
  // Final pass: above the prefix, or at it up to the cutoff id.
  const int shift = 32 - bits;
  out->clear();
  for (int64_t j = 0; j < n; ++j) {
    const int32_t id = id_at(j);
    const uint32_t key = OrderKey(values[id]) >> shift;
    if (key > prefix || (key == prefix && id <= cutoff)) out->push_back(id);
  }
  return true;
}

}  // namespace

float MaxValue(const float* x, int64_t n) {
  F32x16 acc = F32x16{} - kInf;
  const int64_t main = n - n % kLanes;
  for (int64_t i = 0; i < main; i += kLanes) {
    const F32x16 v = Load(x + i);
    acc = v > acc ? v : acc;  // NaN compares false and never enters
  }
  float m = -kInf;
  for (int l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  for (int64_t i = main; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

int64_t ArgMax(const float* x, int64_t n) {
  // Per lane: the largest value and the first index it was seen at (strict >, so NaN never
  // enters). Lanes hold interleaved indices, so the smallest index among the lanes holding the
  // overall maximum is its first occurrence.
  F32x16 best = F32x16{} - kInf;
  I32x16 best_index = I32x16{} - 1;
  I32x16 index = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const int64_t main = n - n % kLanes;
  for (int64_t i = 0; i < main; i += kLanes) {
    const F32x16 v = Load(x + i);
    const I32x16 better = v > best;
    best = better ? v : best;
    best_index = better ? index : best_index;
    index += kLanes;
  }
  float m = -kInf;
  int64_t at = -1;
  auto consider = [&](float v, int64_t i) {
    if (v > m || (v == m && i < at && i >= 0)) {
      m = v;
      at = i;
    }
  };
  for (int l = 0; l < kLanes; ++l) consider(best[l], best_index[l]);
  for (int64_t i = main; i < n; ++i) consider(x[i], i);
  return at;
}

namespace {

// kThresholds: 0, or exactly kMaxThresholds (a compile-time count keeps the accumulators in
// registers).
template <int kThresholds>
double ExpShiftedImpl(const float* x, int64_t n, float shift, float scale, float* out,
                      double* block_sums, const float* thresholds, int num_thresholds,
                      double* masses) {
  double total = 0;
  F32x16 thr[kMaxThresholds] = {};
  for (int t = 0; t < kThresholds; ++t) {
    thr[t] = F32x16{} + thresholds[t];
    masses[t] = 0;
  }
  for (int64_t begin = 0; begin < n; begin += kExpBlock) {
    const int64_t end = std::min(n, begin + kExpBlock);
    const int64_t main = begin + (end - begin) / kLanes * kLanes;
    F32x16 acc = {};
    F32x16 above[kMaxThresholds] = {};
    auto accumulate = [&](F32x16 e) {
      acc += e;
      for (int t = 0; t < kThresholds; ++t) {
        above[t] += (F32x16)((I32x16)e & (I32x16)(e >= thr[t]));
      }
    };
    for (int64_t i = begin; i < main; i += kLanes) {
      const F32x16 e = ExpNonPositive((Load(x + i) - shift) * scale);
      if (out != nullptr) Store(out + i, e);
      accumulate(e);
    }
    if (main < end) {
      float tail[kLanes];
      for (int l = 0; l < kLanes; ++l) tail[l] = main + l < end ? x[main + l] : -kInf;
      const F32x16 e = ExpNonPositive((Load(tail) - shift) * scale);
      for (int64_t i = main; i < end; ++i) {
        if (out != nullptr) out[i] = e[i - main];
      }
      accumulate(e);
    }
    const double block = SumLanes(acc);
    if (block_sums != nullptr) block_sums[begin / kExpBlock] = block;
    total += block;
    for (int t = 0; t < kThresholds; ++t) masses[t] += SumLanes(above[t]);
  }
  return total;
}

}  // namespace

double ExpShifted(const float* x, int64_t n, float shift, float scale, float* out,
                  double* block_sums, const float* thresholds, int num_thresholds, double* masses) {
  if (num_thresholds > 0) {
    ATOM_CHECK(num_thresholds == kMaxThresholds && thresholds != nullptr && masses != nullptr);
    return ExpShiftedImpl<kMaxThresholds>(x, n, shift, scale, out, block_sums, thresholds,
                                          num_thresholds, masses);
  }
  return ExpShiftedImpl<0>(x, n, shift, scale, out, block_sums, nullptr, 0, nullptr);
}

float BlockMaxima(const float* x, int64_t n, std::vector<float>* maxima) {
  static_assert(kMaxBlock == 4 * kLanes);
  const int64_t num_blocks = (n + kMaxBlock - 1) / kMaxBlock;
  const int64_t full_blocks = n / kMaxBlock;
  maxima->resize(size_t(num_blocks));
  F32x16 overall = F32x16{} - kInf;
  // One straight pass (no call or serial reduction per block keeps the loads streaming): four
  // vectors folded into a -inf start (so NaN never enters), then a shuffle tree across lanes.
  for (int64_t b = 0; b < full_blocks; ++b) {
    const float* p = x + b * kMaxBlock;
    F32x16 acc = F32x16{} - kInf;
    for (int v = 0; v < 4; ++v) {
      const F32x16 in = Load(p + v * kLanes);
      acc = in > acc ? in : acc;
    }
    overall = acc > overall ? acc : overall;
    F32x16 t =
        __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    acc = t > acc ? t : acc;
    t = __builtin_shufflevector(acc, acc, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    acc = t > acc ? t : acc;
    t = __builtin_shufflevector(acc, acc, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    acc = t > acc ? t : acc;
    t = __builtin_shufflevector(acc, acc, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    acc = t > acc ? t : acc;
    (*maxima)[size_t(b)] = acc[0];
  }
  float m = -kInf;
  for (int l = 0; l < kLanes; ++l) m = overall[l] > m ? overall[l] : m;
  if (full_blocks < num_blocks) {
    const float tail = MaxValue(x + full_blocks * kMaxBlock, n - full_blocks * kMaxBlock);
    (*maxima)[size_t(full_blocks)] = tail;
    m = tail > m ? tail : m;
  }
  return m;
}

void TopCandidates(const float* x, int64_t n, int64_t k, const std::vector<float>& maxima,
                   SamplerWorkspace* ws, std::vector<int32_t>* out) {
  const int64_t num_blocks = int64_t(maxima.size());
  out->clear();
  if (2 * k > num_blocks) {
    out->resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) (*out)[size_t(i)] = int32_t(i);
    return;
  }
  std::vector<float>& sorted = ws->maxima_scratch;
  sorted.assign(maxima.begin(), maxima.end());
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
  const float t = sorted[size_t(k - 1)];
  for (int64_t b = 0; b < num_blocks; ++b) {
    if (!(maxima[size_t(b)] >= t)) continue;
    const int64_t end = std::min(n, (b + 1) * kMaxBlock);
    for (int64_t i = b * kMaxBlock; i < end; ++i) {
      if (x[i] >= t) out->push_back(int32_t(i));
    }
  }
}

void GatherAtLeast(const float* x, int64_t n, float threshold, SamplerWorkspace* ws,
                   std::vector<int32_t>* out) {
  std::vector<int32_t>& buffer = ws->gather_ids;  // only ever grows: no refill per call
  if (int64_t(buffer.size()) < n + kLanes) buffer.resize(size_t(n + kLanes));
  int32_t* dst = buffer.data();
  int64_t count = 0;
  int64_t i = 0;
#if defined(__AVX512F__)
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  const __m512 t = _mm512_set1_ps(threshold);
  for (; i + 16 <= n; i += 16) {
    const __mmask16 keep = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), t, _CMP_GE_OQ);
    _mm512_mask_compressstoreu_epi32(dst + count, keep, index);
    count += std::popcount(uint32_t(keep));
    index = _mm512_add_epi32(index, step);
  }
#endif
  for (; i < n; ++i) {  // branch-free: write every id, advance past the kept ones
    dst[count] = int32_t(i);
    count += x[i] >= threshold ? 1 : 0;
  }
  out->assign(dst, dst + count);
}

void GatherExpAtLeast(const float* x, int64_t n, float shift, float scale, float threshold,
                      SamplerWorkspace* ws, std::vector<int32_t>* out, float* e) {
  std::vector<int32_t>& buffer = ws->gather_ids;
  if (int64_t(buffer.size()) < n + kLanes) buffer.resize(size_t(n + kLanes));
  int32_t* dst = buffer.data();
  int64_t count = 0;
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t lanes = std::min<int64_t>(kLanes, n - i);
    F32x16 v;
    if (lanes == kLanes) {
      v = Load(x + i);
    } else {
      float tail[kLanes];
      for (int l = 0; l < kLanes; ++l) tail[l] = l < lanes ? x[i + l] : -kInf;
      v = Load(tail);
    }
    const F32x16 ev = ExpNonPositive((v - shift) * scale);
#if defined(__AVX512F__)
    if (lanes == kLanes) {
      __m512 evr;
      std::memcpy(&evr, &ev, sizeof(evr));
      const __mmask16 keep = _mm512_cmp_ps_mask(evr, _mm512_set1_ps(threshold), _CMP_GE_OQ);
      if (keep == 0) continue;
      const __m512i index =
          _mm512_add_epi32(_mm512_set1_epi32(int32_t(i)),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
      _mm512_mask_compressstoreu_epi32(dst + count, keep, index);
      _mm512_mask_storeu_ps(e + i, keep, evr);
      count += std::popcount(uint32_t(keep));
      continue;
    }
#endif
    for (int64_t l = 0; l < lanes; ++l) {
      if (ev[l] >= threshold) {
        dst[count++] = int32_t(i + l);
        e[i + l] = ev[l];
      }
    }
  }
  out->assign(dst, dst + count);
}

void ExpShiftedGather(const float* x, const int32_t* ids, int64_t n, float shift, float scale,
                      float* out) {
  for (int64_t begin = 0; begin < n; begin += kLanes) {
    const int64_t count = std::min<int64_t>(kLanes, n - begin);
    float v[kLanes];
    for (int l = 0; l < kLanes; ++l) v[l] = l < count ? x[ids[begin + l]] : -kInf;
    const F32x16 e = ExpNonPositive((Load(v) - shift) * scale);
    for (int64_t l = 0; l < count; ++l) out[ids[begin + l]] = e[l];
  }
}

void SelectTopCount(const float* values, const int32_t* ids, int64_t n, int64_t k,
                    SamplerWorkspace* ws, std::vector<int32_t>* out) {
  auto unit = [](int32_t) { return 1.0; };
  if (ids == nullptr) {
    SelectTop<true>(values, ids, n, unit, double(k), ws, out);
  } else {
    SelectTop<false>(values, ids, n, unit, double(k), ws, out);
  }
}

bool SelectTopMass(const float* values, const float* weights, const int32_t* ids, int64_t n,
                   double target, SamplerWorkspace* ws, std::vector<int32_t>* out) {
  auto weight = [weights](int32_t id) { return double(weights[id]); };
  if (ids == nullptr) return SelectTop<true>(values, ids, n, weight, target, ws, out);
  return SelectTop<false>(values, ids, n, weight, target, ws, out);
}

void TopN(const float* values, int64_t n, int top_n, double log_normalizer, SamplerWorkspace* ws,
          std::vector<TokenLogprob>* out) {
  out->clear();
  const size_t want = size_t(std::min<int64_t>(top_n, n));
  if (want == 0) return;
  if (n >= 64 * kMaxBlock) {  // large: rank only the candidates that can be in the top
    BlockMaxima(values, n, &ws->block_maxima);
    std::vector<int32_t>& cands = ws->kept_next;
    TopCandidates(values, n, int64_t(want), ws->block_maxima, ws, &cands);
    auto better = [values](int32_t a, int32_t b) {
      return values[a] != values[b] ? values[a] > values[b] : a < b;
    };
    std::erase_if(cands, [values](int32_t id) { return values[id] != values[id]; });
    const size_t keep = std::min(want, cands.size());
    std::partial_sort(cands.begin(), cands.begin() + keep, cands.end(), better);
    for (size_t j = 0; j < keep; ++j) {
      out->push_back({cands[j], float(double(values[cands[j]]) - log_normalizer)});
    }
    return;
  }
  // A sorted list of the best so far; a candidate must beat the worst strictly (an equal value
  // seen later has a higher id and ranks below).
  out->reserve(want);
  float worst = -kInf;
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    if (out->size() == want && !(v > worst)) continue;
    if (v != v) continue;  // NaN
    if (out->size() == want) out->pop_back();
    auto it = std::find_if(out->begin(), out->end(),
                           [v](const TokenLogprob& t) { return t.logprob < v; });
    out->insert(it, TokenLogprob{int32_t(i), v});
    if (out->size() == want) worst = out->back().logprob;
  }
  for (TokenLogprob& t : *out) t.logprob = float(double(t.logprob) - log_normalizer);
}

}  // namespace atom::sampling
