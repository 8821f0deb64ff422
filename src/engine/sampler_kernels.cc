#include "engine/sampler_kernels.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

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
void SelectTopBySort(const float* values, int64_t n, IdAt id_at, WeightFn weight,
                     double target, bool target_is_fraction, SamplerWorkspace* ws,
                     std::vector<int32_t>* out) {
  std::vector<int32_t>& ranked = ws->group;
  ranked.resize(size_t(n));
  double total = 0;
  for (int64_t j = 0; j < n; ++j) {
    ranked[size_t(j)] = id_at(j);
    if (target_is_fraction) total += weight(ranked[size_t(j)]);
  }
  std::sort(ranked.begin(), ranked.end(), [values](int32_t a, int32_t b) {
    const uint32_t ka = OrderKey(values[a]), kb = OrderKey(values[b]);
    return ka != kb ? ka > kb : a < b;
  });
  const double limit = target_is_fraction ? target * total : target;
  out->clear();
  double cum = 0;
  for (const int32_t id : ranked) {
    if (cum >= limit) break;
    out->push_back(id);
    cum += weight(id);
  }
  std::sort(out->begin(), out->end());
}

template <bool kDense, typename WeightFn>
void SelectTop(const float* values, const int32_t* ids, int64_t n, WeightFn weight,
               double target, bool target_is_fraction, SamplerWorkspace* ws,
               std::vector<int32_t>* out) {
  auto id_at = [&](int64_t j) { return kDense ? int32_t(j) : ids[j]; };
  if (n < kSortBelow) {
    return SelectTopBySort(values, n, id_at, weight, target, target_is_fraction, ws, out);
  }
  auto copy_all = [&] {
    out->resize(size_t(n));
    for (int64_t j = 0; j < n; ++j) (*out)[size_t(j)] = id_at(j);
  };
  // Level 0 over the whole input.
  std::vector<double>& hist = ws->histogram;
  hist.assign(size_t(kCopies * kBuckets), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t id = id_at(j);
    hist[size_t((j % kCopies) * kBuckets + (OrderKey(values[id]) >> kShift[0]))] += weight(id);
  }
  double total = 0;
  for (int b = 0; b < kBuckets; ++b) {
    for (int c = 1; c < kCopies; ++c) hist[size_t(b)] += hist[size_t(c * kBuckets + b)];
    total += hist[size_t(b)];
  }
  double remaining = target_is_fraction ? target * total : target;
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

int64_t FindFirst(const float* x, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] == value) return i;
  }
  return -1;
}

double ExpShifted(const float* x, int64_t n, float shift, float scale, float* out,
                  double* block_sums) {
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += kExpBlock) {
    const int64_t end = std::min(n, begin + kExpBlock);
    const int64_t main = begin + (end - begin) / kLanes * kLanes;
    F32x16 acc = {};
    for (int64_t i = begin; i < main; i += kLanes) {
      const F32x16 e = ExpNonPositive((Load(x + i) - shift) * scale);
      if (out != nullptr) Store(out + i, e);
      acc += e;
    }
    if (main < end) {
      float tail[kLanes];
      for (int l = 0; l < kLanes; ++l) tail[l] = main + l < end ? x[main + l] : -kInf;
      const F32x16 e = ExpNonPositive((Load(tail) - shift) * scale);
      for (int64_t i = main; i < end; ++i) {
        if (out != nullptr) out[i] = e[i - main];
      }
      acc += e;
    }
    const double block = SumLanes(acc);
    if (block_sums != nullptr) block_sums[begin / kExpBlock] = block;
    total += block;
  }
  return total;
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
    SelectTop<true>(values, ids, n, unit, double(k), false, ws, out);
  } else {
    SelectTop<false>(values, ids, n, unit, double(k), false, ws, out);
  }
}

void SelectTopMass(const float* values, const float* weights, const int32_t* ids, int64_t n,
                   double fraction, SamplerWorkspace* ws, std::vector<int32_t>* out) {
  auto weight = [weights](int32_t id) { return double(weights[id]); };
  if (ids == nullptr) {
    SelectTop<true>(values, ids, n, weight, fraction, true, ws, out);
  } else {
    SelectTop<false>(values, ids, n, weight, fraction, true, ws, out);
  }
}

void TopN(const float* values, int64_t n, int top_n, double log_normalizer,
          std::vector<TokenLogprob>* out) {
  out->clear();
  const size_t want = size_t(std::min<int64_t>(top_n, n));
  if (want == 0) return;
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
