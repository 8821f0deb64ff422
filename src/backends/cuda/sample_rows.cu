#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/sample_rows.h"
#include "core/philox.h"

namespace atom::cuda {
namespace {

using u64 = unsigned long long;

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 8;  // consecutive tokens per thread per tile
constexpr int64_t kTile = int64_t(kThreads) * kItems;
constexpr unsigned kFull = 0xffffffffu;

// Radix select levels over a 32-bit key, most significant digits first (the host's split).
constexpr int kLevels = 3;
__device__ __forceinline__ int DigitBits(int level) { return level < 2 ? 11 : 10; }
__device__ __forceinline__ int DigitShift(int level) {
  return level == 0 ? 21 : level == 1 ? 10 : 0;
}
constexpr int kMaxBuckets = 2048;

// Top-p prefilter: probability thresholds relative to the top token (whose e is exactly 1); the
// last, 0, admits everything.
constexpr int kNumThresholds = 5;
__constant__ float kThresholds[kNumThresholds] = {0.5f, 0.0625f, 3.90625e-3f, 6.103515625e-5f,
                                                  0.0f};

// The host's dense sums (engine/sampler_kernels.h: ExpShifted): blocks of 1024 tokens, each
// summed by 16 float lane accumulators.
constexpr int64_t kExpBlock = 1024;
constexpr int kLanes = 16;

// One row's share of the workspace: per exp block, its 16 lane sums and its double sum.
struct RowScratch {
  double* block_sums;  // [blocks]
  float* lane_sums;    // [blocks, kLanes]
};

struct Shared {
  u64 hist[kMaxBuckets];
  u64 stage[kWarps][32];  // per-warp staging for HistogramAdd
  u64 u64s[kWarps + 1];
  float f32s[kWarps + 1];
  int64_t found;  // a search's answer, broadcast
  int boundary_bucket;
  u64 boundary_remaining;
  float sampled_raw;
  double dense_total;
  double dense_cum;
  int64_t dense_block;
  int top_count;
  int32_t top_ids[kMaxSampleTopLogprobs];
  float top_values[kMaxSampleTopLogprobs];
};

// --- Block-wide reductions and scans. Every thread of the block must call them. ---

template <typename T, typename Op>
__device__ __forceinline__ T WarpReduce(T v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(kFull, v, offset));
  return v;
}

// The reduction of `v` over the block, returned to every thread. `scratch` has kWarps + 1 slots.
template <typename T, typename Op>
__device__ T BlockReduce(T v, Op op, T identity, T* scratch) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  v = WarpReduce(v, op);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T x = lane < kWarps ? scratch[lane] : identity;
    x = WarpReduce(x, op);
    if (lane == 0) scratch[kWarps] = x;
  }
  __syncthreads();
  return scratch[kWarps];
}

struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }  // NaN loses
  __device__ u64 operator()(u64 a, u64 b) const { return a > b ? a : b; }
};

// The sum of `v` over the threads before this one; *total = the sum over the block.
__device__ u64 BlockExclusiveScan(u64 v, u64* scratch, u64* total) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  u64 x = v;
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const u64 y = __shfl_up_sync(kFull, x, offset);
    if (lane >= offset) x += y;
  }
  if (lane == 31) scratch[warp] = x;
  __syncthreads();
  if (warp == 0) {
    u64 s = lane < kWarps ? scratch[lane] : 0;
#pragma unroll
    for (int offset = 1; offset < 32; offset *= 2) {
      const u64 y = __shfl_up_sync(kFull, s, offset);
      if (lane >= offset) s += y;
    }
    if (lane < kWarps) scratch[lane] = s;
  }
  __syncthreads();
  const u64 before = (warp > 0 ? scratch[warp - 1] : 0) + x - v;
  *total = scratch[kWarps - 1];
  __syncthreads();  // the scratch is free again
  return before;
}

// --- The values the host computes, computed the same way. ---

// exp(x) for x <= 0 exactly as the host's ExpNonPositive (engine/sampler_kernels.cc): Cephes'
// reduction and degree-7 polynomial with the fused multiply-adds GCC forms from it (the host is
// built with -march=native; GCC contracts a * b + c by default), 0 below -87.3, -inf and NaN.
__device__ __forceinline__ float ExpNonPositive(float x) {
  const bool valid = x >= -87.3f;
  const float xc = valid ? x : 0.0f;
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = __fmaf_rn(xc, 1.44269504088896341f, kMagic);
  const float n = __fsub_rn(t, kMagic);
  const int ni = __float_as_int(t) - __float_as_int(kMagic);
  float r = __fmaf_rn(-n, 0.693359375f, xc);
  r = __fmaf_rn(-n, -2.12194440e-4f, r);
  float p = __fmaf_rn(r, 1.9875691500e-4f, 1.3981999507e-3f);
  p = __fmaf_rn(p, r, 8.3334519073e-3f);
  p = __fmaf_rn(p, r, 4.1665795894e-2f);
  p = __fmaf_rn(p, r, 1.6666665459e-1f);
  p = __fmaf_rn(p, r, 5.0000001201e-1f);
  const float y = __fadd_rn(__fmaf_rn(p, __fmul_rn(r, r), r), 1.0f);
  const float scale = __int_as_float((ni + 127) << 23);
  return valid ? __fmul_rn(y, scale) : 0.0f;
}

// The host's OrderKey: unsigned order = float order (-0 == +0, NaN above +inf).
__device__ __forceinline__ uint32_t OrderKey(float f) {
  const uint32_t u = __float_as_uint(__fadd_rn(f, 0.0f));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// A 64-bit key whose maximum is the largest value at its lowest index, as GreedySample picks;
// NaN and -inf never beat a number (ArgmaxRows' key).
__device__ __forceinline__ u64 ArgmaxKey(float v, int64_t i) {
  const uint32_t bits = __float_as_uint(v);
  const uint32_t ordered = (isnan(v) || v == -INFINITY) ? 0u
                           : (bits & 0x80000000u)       ? ~bits
                                                        : (bits | 0x80000000u);
  return (u64(ordered) << 32) | u64(0xFFFFFFFFu - uint32_t(i));
}

// --- Passes over one row. Tokens are visited in tiles of kTile; thread t owns tokens
// [tile + t * kItems, tile + (t + 1) * kItems). Every thread runs every iteration (the callbacks
// get `valid`), so warp-synchronous code inside them is safe. ---

template <typename F>
__device__ __forceinline__ void ForEachToken(int64_t vocab, F f) {
  for (int64_t tile = 0; tile < vocab; tile += kTile) {
    const int64_t base = tile + int64_t(threadIdx.x) * kItems;
#pragma unroll
    for (int j = 0; j < kItems; ++j) f(base + j, base + j < vocab);
  }
}

// hist[digit] += weight for the active lanes. Lanes with different digits add on their own (the
// hardware serialises only lanes that collide); when every active lane has the same digit (runs
// of equal keys: -inf rows, tied logits) one lane adds the warp's sum. Called by all 32 lanes.
__device__ __forceinline__ void HistogramAdd(Shared& s, uint32_t digit, u64 weight, bool active) {
  const int lane = threadIdx.x % 32;
  const unsigned mask = __ballot_sync(kFull, active);
  if (!active) return;
  const int leader = __ffs(mask) - 1;
  if (!__all_sync(mask, digit == __shfl_sync(mask, digit, leader))) {
    atomicAdd(&s.hist[digit], weight);
    return;
  }
  u64* stage = s.stage[threadIdx.x / 32];
  stage[lane] = weight;
  __syncwarp(mask);
  if (lane == leader) {
    u64 sum = 0;
    for (unsigned m = mask; m != 0; m &= m - 1) sum += stage[__ffs(m) - 1];
    atomicAdd(&s.hist[digit], sum);
  }
  __syncwarp(mask);
}

// The first token (ascending id) whose inclusive cumulative weight exceeds `threshold`; -1 when
// the row's total weight does not. weight(i) is evaluated for valid tokens only.
template <typename Weight>
__device__ int64_t FindFirstExceeding(Shared& s, int64_t vocab, Weight weight, u64 threshold) {
  u64 before_tile = 0;
  for (int64_t tile = 0; tile < vocab; tile += kTile) {
    const int64_t base = tile + int64_t(threadIdx.x) * kItems;
    u64 mine = 0;
#pragma unroll
    for (int j = 0; j < kItems; ++j)
      if (base + j < vocab) mine += weight(base + j);
    u64 tile_total;
    const u64 before = before_tile + BlockExclusiveScan(mine, s.u64s, &tile_total);
    if (before_tile + tile_total > threshold) {  // uniform: every thread sees the same totals
      if (before <= threshold && before + mine > threshold) {
        u64 cum = before;
        for (int j = 0; j < kItems; ++j) {
          if (base + j >= vocab) break;
          cum += weight(base + j);
          if (cum > threshold) {
            s.found = base + j;
            break;
          }
        }
      }
      __syncthreads();
      return s.found;
    }
    before_tile += tile_total;
  }
  return -1;
}

// A prefix of a ranking: keeps token i iff key(i) > key, or key(i) == key and i <= last_id.
struct Cut {
  uint32_t key = 0;
  int64_t last_id = INT64_MAX;  // the default keeps everything
  __device__ bool Keeps(uint32_t k, int64_t i) const {
    return k > key || (k == key && i <= last_id);
  }
};

// What a selection sees of token i: whether it takes part, its key and its weight.
struct Probe {
  bool in;
  uint32_t key;
  u64 weight;
};

// Among the tokens with probe(i).in, ranked by (key desc, id asc): the cut that keeps token j iff
// the weight ranked before it is < target (the host's SelectTop). All tokens with one key must
// have one weight, `key_weight(key)`. When the total weight is below target, everything is kept.
// REQUIRES: target > 0.
template <typename ProbeFn, typename KeyWeight>
__device__ Cut SelectTop(Shared& s, int64_t vocab, ProbeFn probe, KeyWeight key_weight,
                         u64 target) {
  uint32_t prefix = 0;
  int fixed_bits = 0;
  u64 remaining = target;
  for (int level = 0; level < kLevels; ++level) {
    const int buckets = 1 << DigitBits(level);
    for (int b = threadIdx.x; b < buckets; b += kThreads) s.hist[b] = 0;
    __syncthreads();
    ForEachToken(vocab, [&](int64_t i, bool valid) {
      Probe p = valid ? probe(i) : Probe{false, 0, 0};
      const bool match =
          p.in && p.weight != 0 && (fixed_bits == 0 || (p.key >> (32 - fixed_bits)) == prefix);
      HistogramAdd(s, (p.key >> DigitShift(level)) & (buckets - 1), p.weight, match);
    });
    __syncthreads();
    // The highest bucket at which the cumulative weight from the top reaches `remaining`: one
    // warp, each lane summing a run of buckets (lane 0 the highest).
    if (threadIdx.x < 32) {
      const int lane = threadIdx.x, per_lane = buckets / 32;
      const int hi = buckets - lane * per_lane;  // this lane's buckets: [hi - per_lane, hi)
      u64 mine = 0;
      for (int b = hi - per_lane; b < hi; ++b) mine += s.hist[b];
      u64 incl = mine;
      for (int offset = 1; offset < 32; offset *= 2) {
        const u64 y = __shfl_up_sync(kFull, incl, offset);
        if (lane >= offset) incl += y;
      }
      const u64 before = incl - mine;
      if (lane == 0) s.boundary_bucket = -1;
      __syncwarp();
      if (before < remaining && incl >= remaining) {
        u64 cum = before;
        for (int b = hi - 1; b >= hi - per_lane; --b) {
          if (cum + s.hist[b] >= remaining) {
            s.boundary_bucket = b;
            s.boundary_remaining = remaining - cum;
            break;
          }
          cum += s.hist[b];
        }
      }
    }
    __syncthreads();
    const int bucket = s.boundary_bucket;
    if (bucket < 0) return Cut{};  // the total is below the target: keep everything
    remaining = s.boundary_remaining;
    prefix = (prefix << DigitBits(level)) | uint32_t(bucket);
    fixed_bits += DigitBits(level);
    __syncthreads();  // the histogram and the boundary are read; free for reuse
  }
  // Tokens at exactly this key share one weight: the first ceil(remaining / weight) of them in
  // id order are kept.
  Cut cut;
  cut.key = prefix;
  const u64 w = key_weight(prefix);
  const u64 count = (remaining + w - 1) / w;
  const int64_t last = FindFirstExceeding(
      s, vocab,
      [&](int64_t i) -> u64 {
        const Probe p = probe(i);
        return p.in && p.key == prefix ? 1 : 0;
      },
      count - 1);
  if (last >= 0) cut.last_id = last;
  return cut;
}

// Fixed-point mass: e * 2^shift, rounded.
struct MassScale {
  float scale;  // 2^shift
  __device__ u64 operator()(float e) const { return __float2ull_rn(e * scale); }
};

// The sum of e_of over the row exactly as the host's ExpShifted adds it (so the host's totals and
// block sums come out bit for bit, given the same e values): lane l of block b sums tokens
// b * 1024 + l, + 16, ... in float, in order; block_sums[b] = the 16 lane sums added in double in
// lane order; the total = the block sums added in block order.
template <typename ExpFn>
__device__ double HostOrderSum(Shared& s, int64_t vocab, ExpFn e_of, const RowScratch& scratch) {
  const int64_t blocks = (vocab + kExpBlock - 1) / kExpBlock;
  for (int64_t pair = threadIdx.x; pair < blocks * kLanes; pair += kThreads) {
    const int64_t b = pair / kLanes;
    const int64_t end = (b + 1) * kExpBlock < vocab ? (b + 1) * kExpBlock : vocab;
    float acc = 0.0f;
    for (int64_t i = b * kExpBlock + pair % kLanes; i < end; i += kLanes)
      acc = __fadd_rn(acc, e_of(i));
    scratch.lane_sums[pair] = acc;
  }
  __syncthreads();
  for (int64_t b = threadIdx.x; b < blocks; b += kThreads) {
    double sum = 0;
    for (int l = 0; l < kLanes; ++l)
      sum = __dadd_rn(sum, double(scratch.lane_sums[b * kLanes + l]));
    scratch.block_sums[b] = sum;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int64_t b = 0; b < blocks; ++b) total = __dadd_rn(total, scratch.block_sums[b]);
    s.dense_total = total;
  }
  __syncthreads();
  return s.dense_total;
}

// The host's DrawDense, step for step, after HostOrderSum: the first token whose cumulative e
// exceeds u * total, found by skipping whole blocks on their sums and then adding the chosen
// block's values one by one in double (one thread, from a shared copy of the block's e).
template <typename ExpFn>
__device__ int32_t DrawDense(Shared& s, int64_t vocab, ExpFn e_of, const RowScratch& scratch,
                             double total, double u) {
  const int64_t blocks = (vocab + kExpBlock - 1) / kExpBlock;
  const double target = u * total;
  if (threadIdx.x == 0) {
    double cum = 0;
    int64_t b = 0;
    while (b + 1 < blocks && __dadd_rn(cum, scratch.block_sums[b]) <= target) {
      cum = __dadd_rn(cum, scratch.block_sums[b]);
      ++b;
    }
    s.dense_block = b;
    s.dense_cum = cum;
  }
  __syncthreads();
  const int64_t begin = s.dense_block * kExpBlock;
  const int64_t end = begin + kExpBlock < vocab ? begin + kExpBlock : vocab;
  float* e = reinterpret_cast<float*>(s.hist);  // 1024 floats fit in the histogram's room
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) e[i - begin] = e_of(i);
  __syncthreads();
  if (threadIdx.x == 0) {
    double cum = s.dense_cum;
    int64_t found = -1, last_nonzero = -1;
    for (int64_t i = begin; i < end; ++i) {
      const float v = e[i - begin];
      if (v <= 0.0f) continue;
      cum = __dadd_rn(cum, double(v));
      last_nonzero = i;
      if (cum > target) {
        found = i;
        break;
      }
    }
    s.found = found >= 0 ? found : last_nonzero;
  }
  __syncthreads();
  const int64_t token = s.found;
  __syncthreads();
  if (token >= 0) return int32_t(token);
  // Only through rounding at the very end: the last token with any probability.
  u64 last = 0;
  ForEachToken(vocab, [&](int64_t i, bool valid) {
    if (valid && e_of(i) > 0.0f) last = u64(i) + 1;
  });
  last = BlockReduce(last, Max{}, u64(0), s.u64s);
  return last > 0 ? int32_t(last - 1) : 0;
}

// --- The row's stages. ---

// The top `n` raw logits (NaN never), ranked by (value desc, id asc), with their logprobs.
__device__ void TopLogprobs(Shared& s, const float* x, int64_t vocab, int n, double log_z,
                            int32_t* top_tokens, float* top_logprobs) {
  const int want = int(n < vocab ? n : vocab);
  auto probe = [&](int64_t i) {
    const float v = x[i];
    return Probe{!isnan(v), OrderKey(v), 1};
  };
  Cut cut;
  if (want > 0)
    cut = SelectTop(
        s, vocab, probe, [](uint32_t) -> u64 { return 1; }, u64(want));
  if (threadIdx.x == 0) s.top_count = 0;
  __syncthreads();
  if (want > 0) {
    ForEachToken(vocab, [&](int64_t i, bool valid) {
      if (!valid) return;
      const Probe p = probe(i);
      if (p.in && cut.Keeps(p.key, i)) {
        const int slot = atomicAdd(&s.top_count, 1);
        if (slot < kMaxSampleTopLogprobs) {
          s.top_ids[slot] = int32_t(i);
          s.top_values[slot] = x[i];
        }
      }
    });
  }
  __syncthreads();
  const int count = s.top_count < want ? s.top_count : want;
  // Each gathered entry's rank is the number of entries that rank before it.
  if (threadIdx.x < kMaxSampleTopLogprobs) {
    const int j = threadIdx.x;
    if (j >= count) {
      top_tokens[j] = -1;
      top_logprobs[j] = 0.0f;
    }
  }
  if (threadIdx.x < count) {
    const int j = threadIdx.x;
    const float v = s.top_values[j];
    const int32_t id = s.top_ids[j];
    int rank = 0;
    for (int o = 0; o < count; ++o) {
      const float w = s.top_values[o];
      rank += (w > v || (w == v && s.top_ids[o] < id)) ? 1 : 0;
    }
    top_tokens[rank] = id;
    top_logprobs[rank] = float(double(v) - log_z);
  }
}

// Applies the row's edits to x in place, in kind order. With `saved`, first stores each edited
// token's raw logit there.
__device__ void ApplyEdits(float* x, int64_t vocab, const SampleRowParams& p,
                           const SampleEdit* edits, float* saved) {
  const SampleEdit* e = edits + p.first_edit;
  const int n = p.num_edits;
  if (saved != nullptr) {
    for (int j = threadIdx.x; j < n; j += kThreads) {
      const int32_t t = e[j].token;
      saved[j] = (t >= 0 && t < vocab) ? x[t] : 0.0f;
    }
    __syncthreads();
  }
  for (int kind = kSampleEditBias; kind <= kSampleEditPenalty; ++kind) {
    for (int j = threadIdx.x; j < n; j += kThreads) {
      const SampleEdit edit = e[j];
      if (edit.kind != kind || edit.token < 0 || edit.token >= vocab) continue;
      float& logit = x[edit.token];
      if (kind == kSampleEditBias) {
        logit = __fadd_rn(logit, edit.bias);
      } else if (kind == kSampleEditBan) {
        logit = -INFINITY;
      } else {  // PenaltyState::Apply, with the fused multiply-add the host compiles it to
        float l = logit;
        const float rep = p.repetition_penalty;
        if (rep != 1.0f) l = l > 0.0f ? __fdiv_rn(l, rep) : __fmul_rn(l, rep);
        if (edit.output_count > 0) {
          l = __fmaf_rn(-p.frequency_penalty, float(edit.output_count), l);
          l = __fsub_rn(l, p.presence_penalty);
        }
        logit = l;
      }
    }
    __syncthreads();
  }
}

// The lowest index of the largest value (GreedySample).
__device__ int32_t Argmax(Shared& s, const float* x, int64_t vocab) {
  u64 best = 0;
  ForEachToken(vocab, [&](int64_t i, bool valid) {
    if (valid) {
      const u64 k = ArgmaxKey(x[i], i);
      best = k > best ? k : best;
    }
  });
  best = BlockReduce(best, Max{}, u64(0), s.u64s);
  return int32_t(0xFFFFFFFFu - uint32_t(best & 0xFFFFFFFFu));
}

// Steps 3-7 of engine/sampler.h for a non-greedy row, over the processed logits x. Sums are the
// host's where the host's are order-dependent (HostOrderSum: the dense draw and the top-p target
// without top-k); elsewhere the host adds in double, and fixed point (exact) stands in for it.
__device__ int32_t Draw(Shared& s, const float* x, int64_t vocab, const SampleRowParams& p,
                        MassScale mass, const RowScratch& scratch) {
  float local = -INFINITY;
  ForEachToken(vocab, [&](int64_t i, bool valid) {
    if (valid) local = fmaxf(local, x[i]);
  });
  const float max = BlockReduce(local, Max{}, -INFINITY, s.f32s);
  // Everything banned or an infinite logit, or a subnormal temperature: greedy, as the host.
  const float scale = __fdiv_rn(1.0f, p.temperature);
  if (!isfinite(max) || !isfinite(scale)) return Argmax(s, x, vocab);
  auto e_of = [&](int64_t i) { return ExpNonPositive(__fmul_rn(__fsub_rn(x[i], max), scale)); };
  const double u = double(UniformFromBits(PhiloxBits(p.seed, p.seq_index, p.position)));

  const bool top_k = p.top_k > 0 && int64_t(p.top_k) < vocab;
  const bool top_p = p.top_p < 1.0f;
  const bool min_p = p.min_p > 0.0f;
  double dense_total = 0;
  if (!top_k && (top_p || !min_p)) {
    dense_total = HostOrderSum(s, vocab, e_of, scratch);
    if (!top_p && !min_p) return DrawDense(s, vocab, e_of, scratch, dense_total, u);
  }

  Cut k_cut;
  if (top_k) {
    k_cut = SelectTop(
        s, vocab,
        [&](int64_t i) {
          return Probe{true, OrderKey(x[i]), 1};
        },
        [](uint32_t) -> u64 { return 1; }, u64(p.top_k));
  }
  auto in_top_k = [&](int64_t i) { return !top_k || k_cut.Keeps(OrderKey(x[i]), i); };

  Cut p_cut;
  if (top_p) {
    // The kept mass, and the mass above each threshold, in one pass.
    u64 above[kNumThresholds] = {};
    ForEachToken(vocab, [&](int64_t i, bool valid) {
      if (!valid || !in_top_k(i)) return;
      const float e = e_of(i);
      const u64 w = mass(e);
#pragma unroll
      for (int t = 0; t < kNumThresholds; ++t) above[t] += e >= kThresholds[t] ? w : 0;
    });
#pragma unroll
    for (int t = 0; t < kNumThresholds; ++t)
      above[t] = BlockReduce(above[t], Sum{}, u64(0), s.u64s);
    // Token j is kept iff the mass ranked before it is < top_p * the kept mass (the host's
    // dense total without top-k); in fixed point: < the target's ceiling.
    const double kept =
        top_k ? double(above[kNumThresholds - 1]) : dense_total * double(mass.scale);
    u64 target = u64(ceil(double(p.top_p) * kept));
    if (target == 0) target = 1;
    // The highest threshold whose mass reaches the target bounds a prefix of the ranking that
    // holds the nucleus: only its tokens take part in the selection.
    int t = 0;
    while (t + 1 < kNumThresholds && above[t] < target) ++t;
    const float floor_e = kThresholds[t];
    p_cut = SelectTop(
        s, vocab,
        [&](int64_t i) {
          if (!in_top_k(i)) return Probe{false, 0, 0};
          const float e = e_of(i);
          return Probe{e >= floor_e, __float_as_uint(e), mass(e)};
        },
        [&](uint32_t key) { return mass(__uint_as_float(key)); }, target);
  }
  auto kept_mass = [&](int64_t i) -> u64 {
    if (!in_top_k(i)) return 0;
    const float e = e_of(i);
    if (top_p && !p_cut.Keeps(__float_as_uint(e), i)) return 0;
    if (min_p && !(e >= p.min_p)) return 0;
    return mass(e);
  };

  // The draw: the first kept token whose cumulative mass exceeds floor(u * total), computed
  // exactly from u's 24 bits.
  u64 local_total = 0;
  ForEachToken(vocab, [&](int64_t i, bool valid) {
    if (valid) local_total += kept_mass(i);
  });
  const u64 total = BlockReduce(local_total, Sum{}, u64(0), s.u64s);
  const u64 u24 = PhiloxBits(p.seed, p.seq_index, p.position) >> 8;
  const u64 threshold = u24 * (total >> 24) + ((u24 * (total & 0xFFFFFFu)) >> 24);
  const int64_t token = FindFirstExceeding(s, vocab, kept_mass, threshold);
  return token >= 0 ? int32_t(token) : Argmax(s, x, vocab);  // unreachable: the top token is kept
}

__global__ void __launch_bounds__(kThreads)
    SampleRowsKernel(float* logits, int64_t vocab, int64_t ld,
                     const SampleRowParams* __restrict__ params,
                     const SampleEdit* __restrict__ edits, SampleRowsOutput out,
                     unsigned char* __restrict__ workspace, int64_t num_rows, MassScale mass) {
  __shared__ Shared s;
  const int64_t row = blockIdx.x;
  const int64_t blocks = (vocab + kExpBlock - 1) / kExpBlock;
  RowScratch scratch;
  scratch.block_sums = reinterpret_cast<double*>(workspace) + row * blocks;
  scratch.lane_sums =
      reinterpret_cast<float*>(reinterpret_cast<double*>(workspace) + num_rows * blocks) +
      row * blocks * kLanes;
  float* saved_raw =
      reinterpret_cast<float*>(reinterpret_cast<double*>(workspace) + num_rows * blocks) +
      num_rows * blocks * kLanes;
  const SampleRowParams p = params[row];
  float* x = logits + row * ld;
  const bool want_logprobs = p.num_logprobs >= 0;
  int32_t* top_tokens = out.top_tokens + row * kMaxSampleTopLogprobs;
  float* top_logprobs = out.top_logprobs + row * kMaxSampleTopLogprobs;

  // Logprobs describe the raw logits: taken before the edits.
  double log_z = 0;
  if (want_logprobs) {
    float local = -INFINITY;
    ForEachToken(vocab, [&](int64_t i, bool valid) {
      if (valid) local = fmaxf(local, x[i]);
    });
    const float max = BlockReduce(local, Max{}, -INFINITY, s.f32s);
    const double sum = HostOrderSum(
        s, vocab, [&](int64_t i) { return ExpNonPositive(__fsub_rn(x[i], max)); }, scratch);
    log_z = double(max) + log(sum);  // the host's LogNormalizer
    TopLogprobs(s, x, vocab, p.num_logprobs, log_z, top_tokens, top_logprobs);
  } else if (threadIdx.x < kMaxSampleTopLogprobs) {
    top_tokens[threadIdx.x] = -1;
    top_logprobs[threadIdx.x] = 0.0f;
  }
  float* saved = want_logprobs ? saved_raw + p.first_edit : nullptr;
  if (p.num_edits > 0) ApplyEdits(x, vocab, p, edits, saved);

  const int32_t token =
      p.temperature == 0.0f ? Argmax(s, x, vocab) : Draw(s, x, vocab, p, mass, scratch);

  if (threadIdx.x == 0) s.sampled_raw = x[token];
  __syncthreads();
  if (want_logprobs && p.num_edits > 0) {  // the edited tokens' raw logits were saved
    for (int j = threadIdx.x; j < p.num_edits; j += kThreads)
      if (edits[p.first_edit + j].token == token) s.sampled_raw = saved[j];  // all equal
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out.tokens[row] = token;
    out.logprobs[row] = want_logprobs ? float(double(s.sampled_raw) - log_z) : 0.0f;
  }
}

}  // namespace

Status SampleRows(float* logits, int64_t rows, int64_t vocab, int64_t ld,
                  const SampleRowParams* params, const SampleEdit* edits, int64_t num_edits,
                  const SampleRowsOutput& out, void* workspace, cudaStream_t stream) {
  if (vocab <= 0 || vocab > INT32_MAX || ld < vocab)
    return InvalidArgument("sample rows: vocab {} must be in [1, 2^31) and <= ld {}", vocab, ld);
  if (rows < 0 || rows > INT32_MAX) return InvalidArgument("sample rows: rows {} < 0", rows);
  if (num_edits < 0 || num_edits > INT32_MAX)
    return InvalidArgument("sample rows: num_edits {} not in [0, 2^31)", num_edits);
  if (rows == 0) return OkStatus();
  if (!logits || !params || !out.tokens || !out.logprobs || !out.top_tokens || !out.top_logprobs ||
      !workspace)
    return InvalidArgument("sample rows: null logits, params, output or workspace");
  if (num_edits > 0 && !edits) return InvalidArgument("sample rows: null edits");
  // Fixed-point masses: vocab tokens of weight <= 2^shift must sum below 2^64.
  int bits = 0;
  while ((int64_t(1) << bits) <= vocab) ++bits;
  const MassScale mass{ldexpf(1.0f, 63 - bits)};
  SampleRowsKernel<<<unsigned(rows), kThreads, 0, stream>>>(
      logits, vocab, ld, params, edits, out, static_cast<unsigned char*>(workspace), rows, mass);
  return LastLaunchStatus("SampleRowsKernel");
}

}  // namespace atom::cuda
