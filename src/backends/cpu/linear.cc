// Linear: out = x · weightᵀ + bias with bf16 weights read in place.
//
// Parallel over groups of kRows output rows. Each group's rows are converted to f32 once per
// token tile (once per call when T <= kTokenTile) and dotted against every token row with
// DotBlock, whose per-dot order depends only on the input size: the result for a token is the
// same bits whatever else is in the batch.
#include <algorithm>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/weight_rows.h"
#include "core/thread_pool.h"

namespace atom::cpu {
namespace {

constexpr int kRows = 4;              // weight rows per register block
constexpr int64_t kTokenTile = 64;    // token rows kept hot in L2 per pass over the weights

// out[t][r0 + r] for r < num_rows, t in [t0, t1), from the kRows f32 rows `w`.
void DotTokens(const float* const* w, int num_rows, const float* x, int64_t in_dim,
               const uint16_t* bias, int64_t r0, int64_t t0, int64_t t1, float* out,
               int64_t out_dim) {
  float res[2 * kRows];
  auto store = [&](int64_t t, const float* vals) {
    for (int r = 0; r < num_rows; ++r)
      out[t * out_dim + r0 + r] = vals[r] + (bias ? Bf16ToFloat(bias[r0 + r]) : 0.0f);
  };
  int64_t t = t0;
  for (; t + 2 <= t1; t += 2) {
    const float* xs[2] = {x + t * in_dim, x + (t + 1) * in_dim};
    DotBlock<kRows, 2>(w, xs, in_dim, res);
    store(t, res);
    store(t + 1, res + kRows);
  }
  if (t < t1) {
    const float* xs[1] = {x + t * in_dim};
    DotBlock<kRows, 1>(w, xs, in_dim, res);
    store(t, res);
  }
}

}  // namespace

void Linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  const int64_t tokens = x.dim(0), in_dim = x.dim(1), out_dim = weight.dim(0);
  ATOM_CHECK(weight.dtype() == DType::kBF16 && weight.dim(1) == in_dim);
  ATOM_CHECK(out.dim(0) == tokens && out.dim(1) == out_dim);
  ATOM_CHECK(!bias.defined() || (bias.dtype() == DType::kBF16 && bias.numel() == out_dim));
  if (tokens == 0) return;
  const float* xd = x.data_as<const float>();
  const uint16_t* wd = weight.data_as<const uint16_t>();
  const uint16_t* bd = bias.defined() ? bias.data_as<const uint16_t>() : nullptr;
  float* od = out.data_as<float>();
  const int64_t groups = (out_dim + kRows - 1) / kRows;
  // At least ~256K multiply-adds per chunk so small matrices are not split across threads.
  const int64_t min_chunk =
      std::max<int64_t>(1, (int64_t{1} << 18) / (kRows * in_dim * std::min(tokens, kTokenTile)));
  ThreadPool::Global().ParallelFor(groups, min_chunk, [&](int64_t g_begin, int64_t g_end) {
    float* buf = ThreadScratch(0, kRows * in_dim);
    for (int64_t t0 = 0; t0 < tokens; t0 += kTokenTile) {
      const int64_t t1 = std::min(tokens, t0 + kTokenTile);
      for (int64_t g = g_begin; g < g_end; ++g) {
        const int64_t r0 = g * kRows;
        const int num_rows = int(std::min<int64_t>(kRows, out_dim - r0));
        const float* w[kRows];
        for (int r = 0; r < kRows; ++r) {
          w[r] = buf + (r < num_rows ? r : 0) * in_dim;  // a short group repeats row 0
          if (r < num_rows) Bf16RowToF32(wd + (r0 + r) * in_dim, in_dim, buf + r * in_dim);
        }
        DotTokens(w, num_rows, xd, in_dim, bd, r0, t0, t1, od, out_dim);
      }
    }
  });
}

}  // namespace atom::cpu
