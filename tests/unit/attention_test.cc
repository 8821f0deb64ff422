// PagedAttention: cpu:: against cpu::ref::, plus hand-checked semantics (sliding-window edges,
// sinks, GQA mapping, paged layout, batching).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "cpu_test_util.h"

namespace atom {
namespace {

using testing::AllFinite;
using testing::BitEqual;
using testing::PoisonedF32;
using testing::RelErr;

using AttentionFn = decltype(&cpu::PagedAttention);

struct SeqSpec {
  int context;  // keys in the cache once this step's keys are written
  int queries;  // this step's tokens: the last `queries` positions of the context
};

// A batch of sequences over a NaN-poisoned paged cache. Each sequence's logical keys and values
// ([context, Hkv, d]) are kept so tests can edit them and rewrite the cache.
class PagedBatch {
 public:
  PagedBatch(int hq, int hkv, int d, int block_size, std::vector<SeqSpec> seqs, uint32_t seed,
             bool shuffle_blocks)
      : hq_(hq), hkv_(hkv), d_(d), block_size_(block_size), seqs_(std::move(seqs)) {
    std::mt19937 rng(seed);
    int total_blocks = 3;  // spare blocks that no sequence uses
    for (const SeqSpec& s : seqs_) {
      max_blocks_ = std::max(max_blocks_, (s.context + block_size - 1) / block_size);
      total_blocks += (s.context + block_size - 1) / block_size;
    }
    std::vector<int32_t> physical(total_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    if (shuffle_blocks) {
      std::mt19937 perm_rng(seed + 1000);
      std::shuffle(physical.begin(), physical.end(), perm_rng);
    }
    block_tables_.assign(seqs_.size() * max_blocks_, -1);
    int next = 0;
    query_start_.push_back(0);
    for (size_t s = 0; s < seqs_.size(); ++s) {
      const SeqSpec& sp = seqs_[s];
      for (int b = 0; b < (sp.context + block_size - 1) / block_size; ++b)
        block_tables_[s * max_blocks_ + b] = physical[next++];
      keys_.push_back(testing::RandomFloats(rng, int64_t(sp.context) * hkv * d, -1.0f, 1.0f));
      values_.push_back(testing::RandomFloats(rng, int64_t(sp.context) * hkv * d, -1.0f, 1.0f));
      seq_lens_.push_back(sp.context);
      for (int p = sp.context - sp.queries; p < sp.context; ++p) {
        positions_.push_back(p);
        slot_mapping_.push_back(Slot(int(s), p));
      }
      query_start_.push_back(query_start_.back() + sp.queries);
    }
    const int64_t tokens = positions_.size();
    q_ = testing::RandomF32(rng, {tokens, hq, d}, -1.0f, 1.0f);
    k_cache_ = PoisonedF32({total_blocks, block_size, hkv, d});
    v_cache_ = PoisonedF32({total_blocks, block_size, hkv, d});
    WriteCache();
  }

  int64_t Slot(int s, int j) const {
    return int64_t(block_tables_[s * max_blocks_ + j / block_size_]) * block_size_ +
           j % block_size_;
  }

  // Copies every sequence's logical keys and values into its cache slots.
  void WriteCache() {
    const int64_t row = int64_t(hkv_) * d_;
    for (size_t s = 0; s < seqs_.size(); ++s)
      for (int j = 0; j < seqs_[s].context; ++j) {
        std::copy_n(&keys_[s][j * row], row, k_cache_.data<float>() + Slot(int(s), j) * row);
        std::copy_n(&values_[s][j * row], row, v_cache_.data<float>() + Slot(int(s), j) * row);
      }
  }

  ops::AttentionMetadata Md() const {
    ops::AttentionMetadata md;
    md.num_seqs = int(seqs_.size());
    md.num_tokens = int(positions_.size());
    md.query_start = query_start_.data();
    md.seq_lens = seq_lens_.data();
    md.positions = positions_.data();
    md.slot_mapping = slot_mapping_.data();
    md.block_tables = block_tables_.data();
    md.max_blocks_per_seq = max_blocks_;
    md.block_size = block_size_;
    return md;
  }

  HostTensor Run(AttentionFn fn, const Tensor& sinks, ops::AttentionParams params) const {
    HostTensor out = PoisonedF32({int64_t(positions_.size()), hq_, d_});
    fn(q_, k_cache_, v_cache_, Md(), sinks, params, out);
    return out;
  }

  // Runs sequence s alone (its rows of q, its block-table row) and returns its output rows.
  HostTensor RunAlone(AttentionFn fn, int s, const Tensor& sinks,
                      ops::AttentionParams params) const {
    const int begin = query_start_[s], end = query_start_[s + 1];
    const int32_t qs[2] = {0, end - begin};
    ops::AttentionMetadata md = Md();
    md.num_seqs = 1;
    md.num_tokens = end - begin;
    md.query_start = qs;
    md.seq_lens = &seq_lens_[s];
    md.positions = &positions_[begin];
    md.slot_mapping = &slot_mapping_[begin];
    md.block_tables = &block_tables_[s * max_blocks_];
    HostTensor out = PoisonedF32({end - begin, hq_, d_});
    fn(q_.tensor().Rows(begin, end), k_cache_, v_cache_, md, sinks, params, out);
    return out;
  }

  HostTensor& q() { return q_; }
  std::vector<float>& keys(int s) { return keys_[s]; }
  std::vector<float>& values(int s) { return values_[s]; }
  int query_start(int s) const { return query_start_[s]; }
  const std::vector<int32_t>& positions() const { return positions_; }

 private:
  int hq_, hkv_, d_, block_size_, max_blocks_ = 0;
  std::vector<SeqSpec> seqs_;
  std::vector<std::vector<float>> keys_, values_;
  std::vector<int32_t> query_start_, seq_lens_, positions_, block_tables_;
  std::vector<int64_t> slot_mapping_;
  HostTensor q_, k_cache_, v_cache_;
};

TEST(AttentionTest, MatchesRefOnMixedBatches) {
  struct Case { int hq, hkv, d, block_size; };
  int seed = 10;
  for (const Case& c : {Case{8, 2, 64, 16}, Case{6, 3, 40, 5}, Case{4, 4, 16, 32}}) {
    for (int window : {0, 8, 128}) {
      for (bool with_sinks : {false, true}) {
        PagedBatch batch(c.hq, c.hkv, c.d, c.block_size,
                         {{37, 37}, {150, 1}, {20, 5}, {1, 1}, {9, 2}}, ++seed, true);
        std::mt19937 rng(seed);
        HostTensor sinks = testing::RandomBf16(rng, {c.hq}, -2.0f, 2.0f);
        const Tensor s = with_sinks ? sinks.tensor() : Tensor();
        const ops::AttentionParams params{1.0f / std::sqrt(float(c.d)), window};
        HostTensor a = batch.Run(&cpu::PagedAttention, s, params);
        HostTensor b = batch.Run(&cpu::ref::PagedAttention, s, params);
        ASSERT_TRUE(AllFinite(a));
        EXPECT_LT(RelErr(a, b), 1e-5) << c.hq << "/" << c.hkv << " d=" << c.d << " w=" << window;
      }
    }
  }
}

// With q = 0 every visible key gets the same logit, so the output is the mean of the visible
// values. A value of 1000 at one key position shows up exactly for the queries that see it.
void ExpectWindowEdges(AttentionFn fn, int context, int queries, int window, int target) {
  PagedBatch batch(1, 1, 16, 4, {{context, queries}}, 1, true);
  std::fill(batch.q().data<float>(), batch.q().data<float>() + batch.q().numel(), 0.0f);
  std::fill(batch.values(0).begin(), batch.values(0).end(), 0.0f);
  std::fill_n(batch.values(0).begin() + target * 16, 16, 1000.0f);
  batch.WriteCache();
  HostTensor out = batch.Run(fn, Tensor(), {0.25f, window});
  for (int i = 0; i < queries; ++i) {
    const int p = batch.positions()[i];
    const bool visible = target <= p && (window == 0 || p - window < target);
    const int count = window == 0 ? p + 1 : std::min(p + 1, window);
    const float want = visible ? 1000.0f / float(count) : 0.0f;
    EXPECT_NEAR(out.data<float>()[i * 16 + 3], want, 1e-3f)
        << "p=" << p << " target=" << target << " window=" << window;
  }
}

TEST(AttentionTest, SlidingWindowEdgeInPrefill) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    // Queries at every position 0..29; target key 5 is visible from p = 5 .. 5 + W - 1 only.
    ExpectWindowEdges(fn, 30, 30, 8, 5);
    ExpectWindowEdges(fn, 30, 30, 8, 12);
    ExpectWindowEdges(fn, 30, 30, 0, 12);
  }
}

TEST(AttentionTest, SlidingWindowEdgeInDecode) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    // One query at p = 199, window 128: key 72 (W - 1 back) is visible, key 71 (W back) is not.
    for (int target : {71, 72, 199, 0}) ExpectWindowEdges(fn, 200, 1, 128, target);
  }
}

TEST(AttentionTest, SinkWithOneKeyHandComputed) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    PagedBatch batch(2, 1, 16, 4, {{1, 1}}, 3, false);
    const float sink_values[2] = {0.75f, -1.5f};
    HostTensor sinks = testing::Bf16Tensor({2}, {sink_values[0], sink_values[1]});
    const float scale = 0.25f;
    HostTensor out = batch.Run(fn, sinks, {scale, 0});
    for (int h = 0; h < 2; ++h) {
      const float* q = batch.q().data<float>() + h * 16;
      const float* k = batch.keys(0).data();
      const float* v = batch.values(0).data();
      double z = 0;
      for (int c = 0; c < 16; ++c) z += double(q[c]) * k[c];
      z *= scale;  // the sink is NOT scaled
      const double p = std::exp(z) / (std::exp(z) + std::exp(double(sink_values[h])));
      for (int c = 0; c < 16; ++c)
        EXPECT_NEAR(out.data<float>()[h * 16 + c], p * v[c], 1e-6) << "h=" << h << " c=" << c;
    }
  }
}

TEST(AttentionTest, VeryNegativeSinkIsPlainSoftmax) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    PagedBatch batch(1, 1, 16, 4, {{6, 1}}, 4, false);
    HostTensor sinks = testing::Bf16Tensor({1}, {-1e4f});
    HostTensor with_sink = batch.Run(fn, sinks, {0.5f, 0});
    HostTensor without = batch.Run(fn, Tensor(), {0.5f, 0});
    const float* q = batch.q().data<float>();
    std::vector<double> z(6), want(16, 0.0);
    double den = 0;
    for (int j = 0; j < 6; ++j) {
      for (int c = 0; c < 16; ++c) z[j] += double(q[c]) * batch.keys(0)[j * 16 + c];
      z[j] = std::exp(0.5 * z[j]);
      den += z[j];
    }
    for (int j = 0; j < 6; ++j)
      for (int c = 0; c < 16; ++c) want[c] += z[j] / den * batch.values(0)[j * 16 + c];
    for (int c = 0; c < 16; ++c) {
      EXPECT_NEAR(with_sink.data<float>()[c], want[c], 1e-6);
      EXPECT_NEAR(without.data<float>()[c], want[c], 1e-6);
    }
  }
}

// Query head h uses KV head h / (Hq / Hkv): give KV head g values all equal to g + 1.
TEST(AttentionTest, GqaHeadMapping) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    for (auto [hq, hkv] : {std::pair{8, 2}, std::pair{6, 3}, std::pair{4, 1}}) {
      PagedBatch batch(hq, hkv, 16, 4, {{11, 3}}, 5, true);
      for (int j = 0; j < 11; ++j)
        for (int g = 0; g < hkv; ++g)
          std::fill_n(batch.values(0).begin() + (j * hkv + g) * 16, 16, float(g + 1));
      batch.WriteCache();
      HostTensor out = batch.Run(fn, Tensor(), {0.25f, 0});
      for (int t = 0; t < 3; ++t)
        for (int h = 0; h < hq; ++h)
          EXPECT_NEAR(out.data<float>()[(t * hq + h) * 16 + 7], float(h / (hq / hkv) + 1), 1e-5)
              << hq << "/" << hkv << " head " << h;
    }
  }
}

// Blocks scattered out of order in the cache give bit-identical results to contiguous ones.
TEST(AttentionTest, PagedLayoutDoesNotMatter) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    PagedBatch contiguous(8, 2, 64, 16, {{100, 7}, {33, 1}}, 6, false);
    PagedBatch scattered(8, 2, 64, 16, {{100, 7}, {33, 1}}, 6, true);
    std::mt19937 rng(6);
    HostTensor sinks = testing::RandomBf16(rng, {8});
    HostTensor a = contiguous.Run(fn, sinks, {0.125f, 0});
    HostTensor b = scattered.Run(fn, sinks, {0.125f, 0});
    ASSERT_TRUE(AllFinite(a));
    EXPECT_TRUE(BitEqual(a.data<float>(), b.data<float>(), a.numel()));
  }
}

// A mixed batch (prefill chunk + decodes of other sequences) equals each sequence run alone.
TEST(AttentionTest, MultiSequenceBatchEqualsEachAlone) {
  for (AttentionFn fn : {&cpu::PagedAttention, &cpu::ref::PagedAttention}) {
    PagedBatch batch(8, 2, 64, 16, {{40, 24}, {300, 1}, {17, 1}, {64, 3}}, 7, true);
    std::mt19937 rng(7);
    HostTensor sinks = testing::RandomBf16(rng, {8});
    for (int window : {0, 32}) {
      const ops::AttentionParams params{0.125f, window};
      HostTensor all = batch.Run(fn, sinks, params);
      ASSERT_TRUE(AllFinite(all));
      for (int s = 0; s < 4; ++s) {
        HostTensor alone = batch.RunAlone(fn, s, sinks, params);
        ASSERT_TRUE(AllFinite(alone));
        EXPECT_TRUE(BitEqual(alone.data<float>(),
                             all.data<float>() + int64_t(batch.query_start(s)) * 8 * 64,
                             alone.numel()))
            << "sequence " << s << " window " << window;
      }
    }
  }
}

}  // namespace
}  // namespace atom
