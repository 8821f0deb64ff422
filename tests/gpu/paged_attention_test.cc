// CUDA paged attention on a bf16 cache against atom::cpu::ref::PagedAttention (f32) on fresh
// random inputs (paged_attention_cases.h: shuffled non-contiguous physical blocks, NaN-poisoned
// unused cache slots and block-table entries, poisoned outputs), every variant.
#include "backends/cuda/paged_attention.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "gpu_test_util.h"
#include "paged_attention_cases.h"

namespace atom::cuda {
namespace {

using attention_test::Case;
using attention_test::Decodes;
using attention_test::Gpu;
using attention_test::RandomDecodes;
using attention_test::RunCase;
using attention_test::Seq;

constexpr double kTolerance = attention_test::kAttentionTolerance;

TEST(CudaPagedAttention, DecodeBatch1LongContextSplitsKv) {
  for (int head_dim : {64, 128}) {
    Case c;
    c.head_dim = head_dim;
    c.seqs = Decodes({16384});
    PagedAttentionPlan plan;
    EXPECT_LE(RunCase(c, &plan), kTolerance);
    EXPECT_EQ(plan.variant, PagedAttentionVariant::kDecodeSplitKv);
    EXPECT_GT(plan.num_splits, 1);
  }
}

TEST(CudaPagedAttention, DecodeBatch1ShortContext) {
  for (bool sinks : {true, false}) {
    Case c;
    c.sinks = sinks;
    c.seqs = Decodes({64});
    EXPECT_LE(RunCase(c), kTolerance);
    c.seqs = Decodes({1});  // the first token: its own key only (and the sink)
    EXPECT_LE(RunCase(c), kTolerance);
  }
}

TEST(CudaPagedAttention, DecodeBatch64MixedContexts) {
  for (int head_dim : {64, 128})
    for (int window : {0, 128})
      for (bool sinks : {true, false}) {
        if (head_dim == 128 && sinks != (window == 0)) continue;  // two of four at d = 128
        Case c;
        c.head_dim = head_dim;
        c.window = window;
        c.sinks = sinks;
        c.seqs = RandomDecodes(64, 4000);
        c.seqs[0].context = 1;
        c.seqs[1].context = 128;
        c.seqs[2].context = 129;
        EXPECT_LE(RunCase(c), kTolerance);
      }
}

TEST(CudaPagedAttention, SlidingWindowLongContextDecode) {
  Case c;
  c.window = 128;
  c.seqs = Decodes({16384, 16000, 130, 7});
  EXPECT_LE(RunCase(c), kTolerance);
}

TEST(CudaPagedAttention, Prefill) {
  for (int tokens : {1, 17, 500})
    for (int head_dim : {64, 128})
      for (int window : {0, 128}) {
        if (tokens < 500 && window) continue;
        Case c;
        c.head_dim = head_dim;
        c.window = window;
        c.sinks = head_dim == 64;
        c.seqs = {{tokens, tokens}};
        PagedAttentionPlan plan;
        EXPECT_LE(RunCase(c, &plan), kTolerance);
        if (tokens > 1) {
          EXPECT_EQ(plan.variant, PagedAttentionVariant::kPrefillMma);
        }
      }
}

TEST(CudaPagedAttention, MixedBatchChunkedPrefillAndDecodes) {
  for (int head_dim : {64, 128})
    for (int window : {0, 128}) {
      Case c;
      c.head_dim = head_dim;
      c.window = window;
      // A chunk continuing at position 2000, a fresh prompt, a 2-token step, and decodes.
      c.seqs = {{300, 2300}, {1, 5000}, {17, 17}, {1, 100}, {2, 700}, {1, 1}, {1, 129}};
      PagedAttentionPlan plan;
      EXPECT_LE(RunCase(c, &plan), kTolerance);
      EXPECT_EQ(plan.variant, PagedAttentionVariant::kMixed);
    }
}

TEST(CudaPagedAttention, BlockSizes) {
  for (int block_size : {32, 24, 1})
    for (int window : {0, 128}) {
      Case c;
      c.block_size = block_size;
      c.window = window;
      c.seqs = Decodes({3000, 47, 1000});
      EXPECT_LE(RunCase(c), kTolerance);
      c.seqs = {{200, 1200}, {1, 900}, {33, 33}};
      EXPECT_LE(RunCase(c), kTolerance);
    }
}

TEST(CudaPagedAttention, ForcedVariantsAgree) {
  const std::vector<Seq> decodes = Decodes({5000, 1, 300, 64, 65, 2049});
  for (int head_dim : {64, 128}) {
    Case c;
    c.head_dim = head_dim;
    c.seqs = decodes;
    c.force = true;
    c.variant = PagedAttentionVariant::kPrefillMma;  // decodes through the prefill kernel
    EXPECT_LE(RunCase(c), kTolerance);
    c.variant = PagedAttentionVariant::kDecodeSplitKv;
    for (int splits : {1, 3, 37, 256}) {
      c.num_splits = splits;
      EXPECT_LE(RunCase(c), kTolerance);
    }
    c.variant = PagedAttentionVariant::kMixed;  // a mixed launch with decodes only
    c.num_splits = 5;
    c.window = 128;
    EXPECT_LE(RunCase(c), kTolerance);
  }
}

TEST(CudaPagedAttention, GroupSizes) {
  // (Hq, Hkv): no GQA, the largest decode group, an odd group, groups the decode kernel leaves
  // to the prefill kernel.
  for (auto [hq, hkv] : {std::pair{8, 8}, {32, 2}, {24, 8}, {64, 2}, {64, 1}}) {
    Case c;
    c.num_q_heads = hq;
    c.num_kv_heads = hkv;
    c.seqs = {{1, 3000}, {40, 140}, {1, 17}};
    EXPECT_LE(RunCase(c), kTolerance) << hq << "/" << hkv;
    c.seqs = Decodes({2000, 5});
    EXPECT_LE(RunCase(c), kTolerance) << hq << "/" << hkv;
  }
}

TEST(CudaPagedAttention, RejectsUnsupportedShapes) {
  PagedAttentionShape s;
  s.num_seqs = 1;
  s.num_tokens = 1;
  s.num_q_heads = 64;
  s.num_kv_heads = 8;
  s.head_dim = 64;
  s.block_size = 16;
  s.max_blocks_per_seq = 4;
  s.max_query_len = 1;
  s.max_seq_len = 64;
  ASSERT_TRUE(PlanPagedAttention(Gpu(), s).ok());
  auto bad = s;
  bad.head_dim = 96;
  EXPECT_EQ(PlanPagedAttention(Gpu(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.num_kv_heads = 7;
  EXPECT_EQ(PlanPagedAttention(Gpu(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.block_size = 0;
  EXPECT_EQ(PlanPagedAttention(Gpu(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.num_q_heads = 64;
  bad.num_kv_heads = 2;  // group 32: too large for the decode kernel
  EXPECT_FALSE(PagedAttentionSupports(PagedAttentionVariant::kDecodeSplitKv, 90, bad));
  EXPECT_EQ(
      PlanPagedAttentionWith(Gpu(), bad, PagedAttentionVariant::kDecodeSplitKv, 2).status().code(),
      StatusCode::kInvalidArgument);
  auto plan = PlanPagedAttention(Gpu(), bad);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->variant, PagedAttentionVariant::kPrefillMma);
  EXPECT_FALSE(PagedAttentionSupports(PagedAttentionVariant::kPrefillMma, 75, s));
  // A launch without the workspace its plan needs.
  auto split = PlanPagedAttentionWith(Gpu(), s, PagedAttentionVariant::kDecodeSplitKv, 4);
  ASSERT_TRUE(split.ok());
  PagedAttentionArgs args;
  alignas(16) static uint16_t dummy[64];
  args.q = reinterpret_cast<const __nv_bfloat16*>(dummy);
  args.key_cache = args.value_cache = dummy;
  args.out = reinterpret_cast<__nv_bfloat16*>(dummy);
  args.query_start = args.positions = args.block_tables = reinterpret_cast<int32_t*>(dummy);
  EXPECT_EQ(PagedAttention(args, *split, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
}

// A decode step captured once as a CUDA graph, replayed over new metadata written into the same
// device buffers (longer contexts, other blocks), as the engine replays its decode graphs.
TEST(CudaPagedAttention, DecodeGraphReplaysWithNewMetadata) {
  Case c;
  c.pool_blocks = 1400;  // enough for both steps
  c.table_width = 8192 / 16 + 1;
  c.seqs = Decodes({1000, 50, 3000, 1, 700, 2000, 129, 4000});
  attention_test::CheckDecodeGraphReplay(c, Decodes({1001, 6000, 17, 2, 8000, 2001, 130, 64}), 1.0f,
                                         1.0f);
}

}  // namespace
}  // namespace atom::cuda
