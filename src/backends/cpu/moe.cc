// MoeExperts: routed experts with clamped SwiGLU (spec §4.7), weights read in place.
//
// The (token, slot) pairs are grouped by expert, then three parallel phases run:
//   1. gate/up + SwiGLU: per (expert, block of channels), each weight row is decoded once
//      into f32 and applied to every token routed to that expert -> act [T*k, I];
//   2. down: per (expert, block of output rows) likewise -> y [T*k, D] (bias included);
//   3. combine: out[t] = Σ_i weights[t,i] · y[t*k + i], summed in slot order i = 0..k-1.
// Every value is a dot or running sum whose order depends only on D or I, never on which or
// how many tokens share the expert, so each token's output is independent of the batch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/weight_rows.h"
#include "core/thread_pool.h"

namespace atom::cpu {
namespace {

constexpr int64_t kMxfp4Channels = 16;  // phase 1 (MXFP4): channels (2 rows each) per item
constexpr int64_t kMxfp4DownRows = 32;  // phase 2 (MXFP4): output rows per item
constexpr int64_t kBf16Cols = 128;      // bf16, both phases: output columns per item

struct WorkItem {
  int32_t expert;
  int64_t begin, end;  // phase 1: channels; phase 2: output rows / columns
};

// The (token, slot) pairs p = t * k + slot routed to each expert, in increasing p.
struct Routing {
  std::vector<int32_t> start;  // [E + 1] offsets into `pairs`
  std::vector<int32_t> pairs;
};

Routing GroupByExpert(const int32_t* indices, int64_t num_pairs, int num_experts) {
  Routing r;
  r.start.assign(num_experts + 1, 0);
  for (int64_t p = 0; p < num_pairs; ++p) ++r.start[indices[p] + 1];
  for (int e = 0; e < num_experts; ++e) r.start[e + 1] += r.start[e];
  r.pairs.resize(num_pairs);
  std::vector<int32_t> fill(r.start.begin(), r.start.end() - 1);
  for (int64_t p = 0; p < num_pairs; ++p) r.pairs[fill[indices[p]]++] = int32_t(p);
  return r;
}

std::vector<WorkItem> SplitWork(const Routing& r, int64_t units, int64_t per_item) {
  std::vector<WorkItem> items;
  for (int32_t e = 0; e + 1 < int32_t(r.start.size()); ++e) {
    if (r.start[e] == r.start[e + 1]) continue;
    for (int64_t b = 0; b < units; b += per_item)
      items.push_back({e, b, std::min(units, b + per_item)});
  }
  return items;
}

inline float SwiGlu(float gate, float up, float limit, float alpha) {
  const float g = std::min(gate, limit);           // clamped above only
  const float u = std::clamp(up, -limit, limit);   // clamped both sides
  return g / (1.0f + std::exp(-alpha * g)) * (u + 1.0f);
}

// res[c * 2 + r] = dot(w[r], in[pair c]) for the pairs [first, last) of one expert, two pairs
// at a time; calls emit(pair, res_for_that_pair) for each.
template <typename Emit>
void DotPairs(const float* const* w, const int32_t* first, const int32_t* last,
              const float* in, int64_t in_stride, int64_t pair_div, int64_t n, Emit emit) {
  float res[4];
  const int32_t* p = first;
  for (; p + 2 <= last; p += 2) {
    const float* xs[2] = {in + (p[0] / pair_div) * in_stride, in + (p[1] / pair_div) * in_stride};
    DotBlock<2, 2>(w, xs, n, res);
    emit(p[0], res);
    emit(p[1], res + 2);
  }
  if (p < last) {
    const float* xs[1] = {in + (p[0] / pair_div) * in_stride};
    DotBlock<2, 1>(w, xs, n, res);
    emit(p[0], res);
  }
}

// Phase 1, MXFP4: channels [item.begin, item.end) of one expert.
void GateUpMxfp4(const ops::ExpertWeights& ex, const WorkItem& item, const Routing& r,
                 const float* x, int64_t k, float* act) {
  const int64_t dim = ex.hidden, inter = ex.intermediate, groups = dim / kMxfp4BlockElems;
  const uint8_t* blocks = ex.gate_up_blocks.data_as<const uint8_t>();
  const uint8_t* scales = ex.gate_up_scales.data_as<const uint8_t>();
  const uint16_t* bias = ex.gate_up_bias.data_as<const uint16_t>() + item.expert * 2 * inter;
  float* rows = ThreadScratch(0, 2 * dim);
  const float* w[2] = {rows, rows + dim};
  for (int64_t j = item.begin; j < item.end; ++j) {
    for (int64_t half = 0; half < 2; ++half) {
      const int64_t row = (int64_t(item.expert) * 2 * inter + 2 * j + half) * groups;
      DequantizeMxfp4Row(blocks + row * kMxfp4BlockBytes, scales + row, groups, rows + half * dim);
    }
    const float bg = Bf16ToFloat(bias[2 * j]), bu = Bf16ToFloat(bias[2 * j + 1]);
    DotPairs(w, &r.pairs[r.start[item.expert]], &r.pairs[r.start[item.expert + 1]], x, dim, k,
             dim, [&](int32_t p, const float* res) {
               act[p * inter + j] = SwiGlu(res[0] + bg, res[1] + bu, ex.swiglu_limit,
                                           ex.swiglu_alpha);
             });
  }
}

// Phase 2, MXFP4: output rows [item.begin, item.end) of one expert.
void DownMxfp4(const ops::ExpertWeights& ex, const WorkItem& item, const Routing& r,
               const float* act, float* y) {
  const int64_t dim = ex.hidden, inter = ex.intermediate, groups = inter / kMxfp4BlockElems;
  const uint8_t* blocks = ex.down_blocks.data_as<const uint8_t>();
  const uint8_t* scales = ex.down_scales.data_as<const uint8_t>();
  const uint16_t* bias = ex.down_bias.data_as<const uint16_t>() + item.expert * dim;
  float* rows = ThreadScratch(0, 2 * inter);
  for (int64_t r0 = item.begin; r0 < item.end; r0 += 2) {
    const int num_rows = int(std::min<int64_t>(2, item.end - r0));
    for (int h = 0; h < num_rows; ++h) {
      const int64_t row = (int64_t(item.expert) * dim + r0 + h) * groups;
      DequantizeMxfp4Row(blocks + row * kMxfp4BlockBytes, scales + row, groups, rows + h * inter);
    }
    const float* w[2] = {rows, rows + (num_rows == 2 ? inter : 0)};
    DotPairs(w, &r.pairs[r.start[item.expert]], &r.pairs[r.start[item.expert + 1]], act, inter,
             1, inter, [&](int32_t p, const float* res) {
               for (int h = 0; h < num_rows; ++h)
                 y[p * dim + r0 + h] = res[h] + Bf16ToFloat(bias[r0 + h]);
             });
  }
}

// Both bf16 phases ([in, out] layout): columns [c0, c1) of out = Σ_i in[pair][i] · W[i][c0:c1],
// accumulated row by row in increasing i (saxpy form) into acc [pairs, c1 - c0].
void SaxpyBf16(const uint16_t* w, int64_t in_dim, int64_t out_dim, int64_t c0, int64_t c1,
               const int32_t* first, const int32_t* last, const float* in, int64_t in_stride,
               int64_t pair_div, float* acc) {
  const int64_t cols = c1 - c0, n = last - first;
  float* row = ThreadScratch(0, cols);
  std::fill(acc, acc + n * cols, 0.0f);
  for (int64_t i = 0; i < in_dim; ++i) {
    Bf16RowToF32(w + i * out_dim + c0, cols, row);
    for (int64_t q = 0; q < n; ++q)
      Axpy(in[(first[q] / pair_div) * in_stride + i], row, cols, acc + q * cols);
  }
}

void GateUpBf16(const ops::ExpertWeights& ex, const WorkItem& item, const Routing& r,
                const float* x, int64_t k, float* act) {
  const int64_t dim = ex.hidden, inter = ex.intermediate;
  const int64_t c0 = 2 * item.begin, c1 = 2 * item.end, cols = c1 - c0;
  const int32_t* first = &r.pairs[r.start[item.expert]];
  const int32_t* last = &r.pairs[r.start[item.expert + 1]];
  float* acc = ThreadScratch(1, (last - first) * cols);
  SaxpyBf16(ex.gate_up.data_as<const uint16_t>() + int64_t(item.expert) * dim * 2 * inter, dim,
            2 * inter, c0, c1, first, last, x, dim, k, acc);
  const uint16_t* bias = ex.gate_up_bias.data_as<const uint16_t>() + item.expert * 2 * inter;
  for (int64_t q = 0; q < last - first; ++q)
    for (int64_t j = item.begin; j < item.end; ++j) {
      const float* a = acc + q * cols + 2 * (j - item.begin);
      act[first[q] * inter + j] = SwiGlu(a[0] + Bf16ToFloat(bias[2 * j]),
                                         a[1] + Bf16ToFloat(bias[2 * j + 1]), ex.swiglu_limit,
                                         ex.swiglu_alpha);
    }
}

void DownBf16(const ops::ExpertWeights& ex, const WorkItem& item, const Routing& r,
              const float* act, float* y) {
  const int64_t dim = ex.hidden, inter = ex.intermediate, cols = item.end - item.begin;
  const int32_t* first = &r.pairs[r.start[item.expert]];
  const int32_t* last = &r.pairs[r.start[item.expert + 1]];
  float* acc = ThreadScratch(1, (last - first) * cols);
  SaxpyBf16(ex.down.data_as<const uint16_t>() + int64_t(item.expert) * inter * dim, inter, dim,
            item.begin, item.end, first, last, act, inter, 1, acc);
  const uint16_t* bias = ex.down_bias.data_as<const uint16_t>() + item.expert * dim;
  for (int64_t q = 0; q < last - first; ++q)
    for (int64_t c = item.begin; c < item.end; ++c)
      y[first[q] * dim + c] = acc[q * cols + c - item.begin] + Bf16ToFloat(bias[c]);
}

}  // namespace

void MoeExperts(const Tensor& x, const ops::ExpertWeights& experts, const Tensor& indices,
                const Tensor& weights, const Tensor& out) {
  const int64_t tokens = x.dim(0), dim = experts.hidden, inter = experts.intermediate;
  const int64_t k = indices.dim(1);
  ATOM_CHECK(x.dim(1) == dim && out.shape() == x.shape() && weights.dim(1) == k);
  const bool mxfp4 = experts.format == ops::ExpertFormat::kMxfp4;
  ATOM_CHECK(!mxfp4 || (dim % kMxfp4BlockElems == 0 && inter % kMxfp4BlockElems == 0));
  if (tokens == 0) return;
  const float* xd = x.data_as<const float>();
  const Routing routing =
      GroupByExpert(indices.data_as<const int32_t>(), tokens * k, experts.num_experts);

  // Per-call intermediates, kept per calling thread to avoid reallocating every layer.
  thread_local std::vector<float> act_buf, y_buf;
  act_buf.resize(tokens * k * inter);
  y_buf.resize(tokens * k * dim);
  float* act = act_buf.data();
  float* y = y_buf.data();

  ThreadPool& pool = ThreadPool::Global();
  if (mxfp4) {
    const auto up_items = SplitWork(routing, inter, kMxfp4Channels);
    pool.ParallelFor(int64_t(up_items.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) GateUpMxfp4(experts, up_items[i], routing, xd, k, act);
    });
    const auto down_items = SplitWork(routing, dim, kMxfp4DownRows);
    pool.ParallelFor(int64_t(down_items.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) DownMxfp4(experts, down_items[i], routing, act, y);
    });
  } else {
    const auto up_items = SplitWork(routing, inter, kBf16Cols / 2);
    pool.ParallelFor(int64_t(up_items.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) GateUpBf16(experts, up_items[i], routing, xd, k, act);
    });
    const auto down_items = SplitWork(routing, dim, kBf16Cols);
    pool.ParallelFor(int64_t(down_items.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) DownBf16(experts, down_items[i], routing, act, y);
    });
  }

  const float* w = weights.data_as<const float>();
  float* o = out.data_as<float>();
  pool.ParallelFor(tokens, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      std::fill(o + t * dim, o + (t + 1) * dim, 0.0f);
      for (int64_t i = 0; i < k; ++i) Axpy(w[t * k + i], y + (t * k + i) * dim, dim, o + t * dim);
    }
  });
}

}  // namespace atom::cpu
