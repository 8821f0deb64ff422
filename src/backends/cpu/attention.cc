// PagedAttention: causal (optionally windowed) GQA attention over the paged KV cache, with
// per-head sinks (spec §4.5).
//
// One work item is a (token, KV head) pair, which serves that KV head's Hq / Hkv query heads
// together so each cached key and value is read once per token instead of once per query head.
// Keys are visited in tiles with an online softmax: a running max m and denominator l per query
// head, started from the sink (m = sink, l = 1; no sink: m = -inf, l = 0), rescaling the
// accumulated output whenever the max grows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/weight_rows.h"
#include "core/thread_pool.h"

namespace atom::cpu {
namespace {

constexpr int64_t kKeyTile = 32;

}  // namespace

void PagedAttention(const Tensor& q, const Tensor& key_cache, const Tensor& value_cache,
                    const ops::AttentionMetadata& md, const Tensor& sinks,
                    const ops::AttentionParams& params, const Tensor& out) {
  const int64_t tokens = q.dim(0), num_q_heads = q.dim(1), d = q.dim(2);
  const int64_t num_kv_heads = key_cache.dim(2);
  ATOM_CHECK(key_cache.dim(1) == md.block_size && key_cache.dim(3) == d);
  ATOM_CHECK(num_q_heads % num_kv_heads == 0 && tokens == md.num_tokens);
  ATOM_CHECK(out.shape() == q.shape());
  const int64_t group = num_q_heads / num_kv_heads;
  const float* k_cache = key_cache.data_as<const float>();
  const float* v_cache = value_cache.data_as<const float>();
  const float kNegInf = -std::numeric_limits<float>::infinity();

  std::vector<int32_t> seq_of(tokens);
  for (int s = 0; s < md.num_seqs; ++s)
    for (int i = md.query_start[s]; i < md.query_start[s + 1]; ++i) seq_of[i] = s;

  ThreadPool::Global().ParallelFor(tokens * num_kv_heads, 1, [&](int64_t begin, int64_t end) {
    float* acc = ThreadScratch(0, group * d);
    float* probs = ThreadScratch(1, group * kKeyTile);  // logits, then exp(logit - max)
    float* stats = ThreadScratch(2, 2 * group);         // running max m, then denominator l
    float* m = stats;
    float* l = stats + group;
    const float* rows[2 * kKeyTile];                     // key rows, then value rows
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / num_kv_heads, kv_head = item % num_kv_heads;
      const int32_t s = seq_of[t];
      const int32_t* blocks = md.block_tables + int64_t(s) * md.max_blocks_per_seq;
      const int64_t p = md.positions[t];
      const int64_t lo =
          params.sliding_window > 0 ? std::max<int64_t>(0, p - params.sliding_window + 1) : 0;
      const float* qt = q.data_as<const float>() + (t * num_q_heads + kv_head * group) * d;
      for (int64_t g = 0; g < group; ++g) {
        const int64_t h = kv_head * group + g;
        m[g] = sinks.defined() ? Bf16ToFloat(sinks.data_as<const uint16_t>()[h]) : kNegInf;
        l[g] = sinks.defined() ? 1.0f : 0.0f;
      }
      std::fill(acc, acc + group * d, 0.0f);

      for (int64_t j0 = lo; j0 <= p; j0 += kKeyTile) {
        const int64_t n = std::min(p + 1, j0 + kKeyTile) - j0;
        for (int64_t jj = 0; jj < n; ++jj) {
          const int64_t j = j0 + jj;
          const int64_t slot = int64_t(blocks[j / md.block_size]) * md.block_size +
                               j % md.block_size;
          rows[jj] = k_cache + (slot * num_kv_heads + kv_head) * d;
          rows[kKeyTile + jj] = v_cache + (slot * num_kv_heads + kv_head) * d;
        }
        for (int64_t g = 0; g < group; ++g) {
          float* pr = probs + g * kKeyTile;
          float tile_max = kNegInf;
          for (int64_t jj = 0; jj < n; ++jj) {
            pr[jj] = params.scale * Dot(qt + g * d, rows[jj], d);
            tile_max = std::max(tile_max, pr[jj]);
          }
          const float new_m = std::max(m[g], tile_max);
          const float rescale = std::exp(m[g] - new_m);  // 0 when m was -inf
          float sum = 0.0f;
          for (int64_t jj = 0; jj < n; ++jj) {
            pr[jj] = std::exp(pr[jj] - new_m);
            sum += pr[jj];
          }
          if (rescale != 1.0f)
            for (int64_t c = 0; c < d; ++c) acc[g * d + c] *= rescale;
          l[g] = l[g] * rescale + sum;
          m[g] = new_m;
        }
        for (int64_t jj = 0; jj < n; ++jj)
          for (int64_t g = 0; g < group; ++g)
            Axpy(probs[g * kKeyTile + jj], rows[kKeyTile + jj], d, acc + g * d);
      }

      float* o = out.data_as<float>() + (t * num_q_heads + kv_head * group) * d;
      for (int64_t g = 0; g < group; ++g) {
        const float inv = 1.0f / l[g];
        for (int64_t c = 0; c < d; ++c) o[g * d + c] = acc[g * d + c] * inv;
      }
    }
  });
}

}  // namespace atom::cpu
