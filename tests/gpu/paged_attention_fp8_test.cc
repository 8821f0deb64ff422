// CUDA paged attention on an fp8 e4m3 cache (PagedKvDType::kFp8E4M3, --kv-cache-dtype fp8)
// against atom::cpu::ref::PagedAttention fed the dequantised values (e4m3 · scale), so the
// comparison isolates the kernel from the quantisation: the bound is the bf16 cache's. Every
// variant, head_dim 64 and 128, sinks, sliding windows, long contexts and split-KV, odd block
// sizes, non-unit scales (k_scale folds into the score scale, v_scale into the normalisation),
// poisoned caches and outputs (paged_attention_cases.h), and a graph replay that follows new
// scales written into the same device memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/paged_attention.h"
#include "gpu_test_util.h"
#include "paged_attention_cases.h"

namespace atom::cuda {
namespace {

using attention_test::Case;
using attention_test::Decodes;
using attention_test::Gpu;
using attention_test::RandomDecodes;
using attention_test::RunCase;

constexpr double kTolerance = attention_test::kAttentionTolerance;

// An fp8 case; scales other than 1 unless a test says otherwise.
Case Fp8Case(float k_scale = 0.37f, float v_scale = 1.7f) {
  Case c;
  c.cache_dtype = PagedKvDType::kFp8E4M3;
  c.k_scale = k_scale;
  c.v_scale = v_scale;
  return c;
}

TEST(CudaPagedAttentionFp8, DecodeBatch1LongContextSplitsKv) {
  for (int head_dim : {64, 128}) {
    Case c = Fp8Case();
    c.head_dim = head_dim;
    c.seqs = Decodes({16384});
    PagedAttentionPlan plan;
    EXPECT_LE(RunCase(c, &plan), kTolerance);
    EXPECT_EQ(plan.variant, PagedAttentionVariant::kDecodeSplitKv);
    EXPECT_GT(plan.num_splits, 1);
  }
}

TEST(CudaPagedAttentionFp8, DecodeShortContextsAndUnitScales) {
  for (bool sinks : {true, false})
    for (float scale : {1.0f, 0.05f}) {
      Case c = Fp8Case(scale, scale);
      c.sinks = sinks;
      c.seqs = Decodes({64});
      EXPECT_LE(RunCase(c), kTolerance);
      c.seqs = Decodes({1});  // the first token: its own key only (and the sink)
      EXPECT_LE(RunCase(c), kTolerance);
    }
}

TEST(CudaPagedAttentionFp8, DecodeBatch64MixedContexts) {
  for (int head_dim : {64, 128})
    for (int window : {0, 128})
      for (bool sinks : {true, false}) {
        if (head_dim == 128 && sinks != (window == 0)) continue;  // two of four at d = 128
        Case c = Fp8Case();
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

TEST(CudaPagedAttentionFp8, SlidingWindowLongContextDecode) {
  Case c = Fp8Case();
  c.window = 128;
  c.seqs = Decodes({16384, 16000, 130, 7});
  EXPECT_LE(RunCase(c), kTolerance);
}

TEST(CudaPagedAttentionFp8, Prefill) {
  for (int tokens : {1, 17, 500})
    for (int head_dim : {64, 128})
      for (int window : {0, 128}) {
        if (tokens < 500 && window) continue;
        Case c = Fp8Case();
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

TEST(CudaPagedAttentionFp8, LongPrefillChunk) {
  // A 512-token chunk continuing a 3584-token context: 64 key tiles for the last CTA.
  for (int head_dim : {64, 128}) {
    Case c = Fp8Case();
    c.head_dim = head_dim;
    c.seqs = {{512, 4096}};
    EXPECT_LE(RunCase(c), kTolerance);
  }
}

TEST(CudaPagedAttentionFp8, MixedBatchChunkedPrefillAndDecodes) {
  for (int head_dim : {64, 128})
    for (int window : {0, 128}) {
      Case c = Fp8Case();
      c.head_dim = head_dim;
      c.window = window;
      // A chunk continuing at position 2000, a fresh prompt, a 2-token step, and decodes.
      c.seqs = {{300, 2300}, {1, 5000}, {17, 17}, {1, 100}, {2, 700}, {1, 1}, {1, 129}};
      PagedAttentionPlan plan;
      EXPECT_LE(RunCase(c, &plan), kTolerance);
      EXPECT_EQ(plan.variant, PagedAttentionVariant::kMixed);
    }
}

TEST(CudaPagedAttentionFp8, BlockSizes) {
  for (int block_size : {32, 24, 1})
    for (int window : {0, 128}) {
      Case c = Fp8Case();
      c.block_size = block_size;
      c.window = window;
      c.seqs = Decodes({3000, 47, 1000});
      EXPECT_LE(RunCase(c), kTolerance);
      c.seqs = {{200, 1200}, {1, 900}, {33, 33}};
      EXPECT_LE(RunCase(c), kTolerance);
    }
}

TEST(CudaPagedAttentionFp8, ForcedVariantsAgree) {
  const std::vector<attention_test::Seq> decodes = Decodes({5000, 1, 300, 64, 65, 2049});
  for (int head_dim : {64, 128}) {
    Case c = Fp8Case();
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

TEST(CudaPagedAttentionFp8, GroupSizes) {
  for (auto [hq, hkv] : {std::pair{8, 8}, {24, 8}, {64, 2}}) {
    Case c = Fp8Case();
    c.num_q_heads = hq;
    c.num_kv_heads = hkv;
    c.seqs = {{1, 3000}, {40, 140}, {1, 17}};
    EXPECT_LE(RunCase(c), kTolerance) << hq << "/" << hkv;
  }
}

TEST(CudaPagedAttentionFp8, RejectsMissingScales) {
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
  s.cache_dtype = PagedKvDType::kFp8E4M3;
  auto plan = PlanPagedAttention(Gpu(), s);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  alignas(16) static uint16_t dummy[64];
  PagedAttentionArgs args;
  args.q = reinterpret_cast<const __nv_bfloat16*>(dummy);
  args.key_cache = args.value_cache = dummy;
  args.out = reinterpret_cast<__nv_bfloat16*>(dummy);
  args.query_start = args.positions = args.block_tables = reinterpret_cast<int32_t*>(dummy);
  EXPECT_EQ(PagedAttention(args, *plan, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
  args.k_scale = reinterpret_cast<const float*>(dummy);
  EXPECT_EQ(PagedAttention(args, *plan, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
  // A cache that is not 16-byte aligned.
  args.v_scale = args.k_scale;
  args.key_cache = reinterpret_cast<const uint8_t*>(dummy) + 8;
  EXPECT_EQ(PagedAttention(args, *plan, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
  // An element type the kernels do not have.
  s.cache_dtype = static_cast<PagedKvDType>(7);
  EXPECT_EQ(PlanPagedAttention(Gpu(), s).status().code(), StatusCode::kInvalidArgument);
}

// A captured decode step replayed over new caches, metadata and scales: the kernels read the
// scales from device memory at run time.
TEST(CudaPagedAttentionFp8, DecodeGraphReplaysWithNewMetadataAndScales) {
  Case c = Fp8Case(1.0f, 1.0f);
  c.pool_blocks = 1400;  // enough for both steps
  c.table_width = 8192 / 16 + 1;
  c.seqs = Decodes({1000, 50, 3000, 1, 700, 2000, 129, 4000});
  attention_test::CheckDecodeGraphReplay(c, Decodes({1001, 6000, 17, 2, 8000, 2001, 130, 64}),
                                         0.25f, 3.0f);
}

}  // namespace
}  // namespace atom::cuda
