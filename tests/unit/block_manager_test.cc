// BlockManager: allocation accounting, prefix caching, LRU eviction, forking, and randomized
// invariants.
#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "engine/block_manager.h"

namespace atom {
namespace {

std::vector<int32_t> Tokens(int n, int32_t first = 0) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(BlockManager, AllocateGrowFreeKeepCounts) {
  BlockManager m(8, 4, /*enable_prefix_caching=*/false);
  BlockTable t;
  const auto prompt = Tokens(6);
  ASSERT_TRUE(m.CanAllocate(prompt, 6));
  EXPECT_EQ(m.Allocate(prompt, 6, &t), 0);
  EXPECT_EQ(t.blocks.size(), 2u);
  EXPECT_EQ(m.num_free_blocks(), 6);
  EXPECT_TRUE(m.CanGrow(t, 8));  // still fits in two blocks
  m.Grow(&t, 9);
  EXPECT_EQ(t.blocks.size(), 3u);
  EXPECT_FALSE(m.CanGrow(t, 4 * 9 + 1));
  EXPECT_FALSE(m.CanAllocate(Tokens(30), 30));
  m.Free(&t);
  EXPECT_TRUE(t.blocks.empty());
  EXPECT_EQ(m.num_free_blocks(), 8);
}

TEST(BlockManager, PrefixIsReusedOnlyAfterItIsComputed) {
  BlockManager m(16, 4, true);
  const auto prompt = Tokens(10);  // blocks [0..3] [4..7] [8, 9]
  BlockTable a;
  EXPECT_EQ(m.Allocate(prompt, 10, &a), 0);
  EXPECT_EQ(m.CachedPrefixTokens(prompt), 0);  // nothing computed yet
  m.CommitComputed(&a, prompt, 5);             // only block 0 is complete
  EXPECT_EQ(a.hashes.size(), 1u);
  EXPECT_EQ(m.CachedPrefixTokens(prompt), 4);
  m.CommitComputed(&a, prompt, 10);
  EXPECT_EQ(m.CachedPrefixTokens(prompt), 8);

  BlockTable b;
  auto other = Tokens(12);
  other[9] = 999;  // same first two blocks, different third
  EXPECT_EQ(m.Allocate(other, 12, &b), 8);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);
  EXPECT_EQ(b.blocks[1], a.blocks[1]);
  EXPECT_NE(b.blocks[2], a.blocks[2]);
  EXPECT_EQ(m.stats().hits, 8);
}

TEST(BlockManager, TheLastPromptTokenIsNeverServedFromCache) {
  BlockManager m(16, 4, true);
  const auto prompt = Tokens(8);
  BlockTable a;
  m.Allocate(prompt, 8, &a);
  m.CommitComputed(&a, prompt, 8);
  EXPECT_EQ(m.CachedPrefixTokens(prompt), 4);  // the second block holds the last token
}

TEST(BlockManager, FreedBlocksStayCachedUntilReusedLeastRecentlyFreedFirst) {
  BlockManager m(4, 2, true);
  const auto p1 = Tokens(5, 100), p2 = Tokens(5, 200);
  BlockTable a, b;
  m.Allocate(p1, 5, &a);
  m.CommitComputed(&a, p1, 5);
  m.Free(&a);
  EXPECT_EQ(m.num_free_blocks(), 4);
  EXPECT_EQ(m.CachedPrefixTokens(p1), 4);  // still cached while free
  // p2 needs 3 blocks: the one never used, then p1's tail, then p1's second block (freed
  // last-block-first, so p1's head block is the most recently freed and survives).
  m.Allocate(p2, 5, &b);
  EXPECT_EQ(m.CachedPrefixTokens(p1), 2);
  m.Free(&b);
  BlockTable c;
  EXPECT_EQ(m.Allocate(p1, 5, &c), 2);
}

TEST(BlockManager, CanAllocateCountsReusedFreeBlocks) {
  BlockManager m(3, 2, true);
  const auto p = Tokens(5);  // 3 blocks, the first two cacheable
  BlockTable a;
  m.Allocate(p, 5, &a);
  m.CommitComputed(&a, p, 5);
  m.Free(&a);
  // All three blocks are free; two are cached. A re-run needs the two cached ones plus one more.
  EXPECT_TRUE(m.CanAllocate(p, 5));
  EXPECT_FALSE(m.CanAllocate(p, 7));
  BlockTable b;
  EXPECT_EQ(m.Allocate(p, 5, &b), 4);
  EXPECT_EQ(m.num_free_blocks(), 0);
}

TEST(BlockManager, SharedBlocksAreFreedByTheLastOwner) {
  BlockManager m(8, 2, true);
  const auto p = Tokens(5);
  BlockTable a, b;
  m.Allocate(p, 5, &a);
  m.CommitComputed(&a, p, 5);
  EXPECT_EQ(m.Allocate(p, 5, &b), 4);
  EXPECT_EQ(m.num_free_blocks(), 8 - 3 - 1);
  m.Free(&a);
  EXPECT_EQ(m.num_free_blocks(), 8 - 3);  // only a's private tail came back
  m.Free(&b);
  EXPECT_EQ(m.num_free_blocks(), 8);
}

TEST(BlockManager, ForkSharesFullBlocksAndCopiesThePartialOne) {
  BlockManager m(8, 4, false);
  const auto p = Tokens(6);
  BlockTable parent, child, child2;
  m.Allocate(p, 6, &parent);
  ASSERT_TRUE(m.CanFork(parent, 6));
  auto [src, dst] = m.Fork(parent, 6, &child);
  EXPECT_EQ(child.blocks[0], parent.blocks[0]);
  EXPECT_EQ(src, parent.blocks[1]);
  EXPECT_EQ(dst, child.blocks[1]);
  EXPECT_NE(dst, src);
  EXPECT_EQ(m.num_free_blocks(), 8 - 3);
  auto none = m.Fork(parent, 4, &child2);  // on a block boundary: nothing to copy
  EXPECT_EQ(none.first, -1);
  m.Free(&parent);
  m.Free(&child);
  m.Free(&child2);
  EXPECT_EQ(m.num_free_blocks(), 8);
}

// Random allocate / grow / commit / fork / free: reference counts always equal the number of
// tables holding a block, the free count matches, and everything returns at the end.
TEST(BlockManager, RandomizedInvariants) {
  for (bool caching : {false, true}) {
    std::mt19937 rng(caching ? 7 : 8);
    BlockManager m(64, 4, caching);
    struct Seq {
      std::vector<int32_t> tokens;
      int64_t computed = 0;
      BlockTable table;
    };
    std::vector<Seq> live;
    for (int step = 0; step < 5000; ++step) {
      const int op = int(rng() % 4);
      if (op == 0 || live.empty()) {
        Seq s;
        const int len = 1 + int(rng() % 20);
        const int32_t family = int32_t(rng() % 3) * 1000;  // shared prefixes across families
        for (int i = 0; i < len; ++i) s.tokens.push_back(family + (i < 8 ? i : int32_t(rng() % 50)));
        if (!m.CanAllocate(s.tokens, len)) continue;
        s.computed = m.Allocate(s.tokens, len, &s.table);
        live.push_back(std::move(s));
      } else if (op == 1) {
        Seq& s = live[rng() % live.size()];
        s.computed = int64_t(s.tokens.size());
        m.CommitComputed(&s.table, s.tokens, s.computed);
        if (m.CanGrow(s.table, s.computed + 1)) {
          m.Grow(&s.table, s.computed + 1);
          s.tokens.push_back(int32_t(rng() % 50));
        }
      } else if (op == 2) {
        Seq& parent = live[rng() % live.size()];
        if (!m.CanFork(parent.table, int64_t(parent.tokens.size()))) continue;
        Seq child;
        child.tokens = parent.tokens;
        m.Fork(parent.table, int64_t(parent.tokens.size()), &child.table);
        live.push_back(std::move(child));
      } else {
        const size_t i = rng() % live.size();
        m.Free(&live[i].table);
        live.erase(live.begin() + i);
      }
      std::map<int32_t, int> owners;
      for (const Seq& s : live)
        for (int32_t b : s.table.blocks) ++owners[b];
      ASSERT_EQ(m.num_free_blocks(), m.num_blocks() - int(owners.size())) << "step " << step;
    }
    for (Seq& s : live) m.Free(&s.table);
    EXPECT_EQ(m.num_free_blocks(), m.num_blocks());
  }
}

}  // namespace
}  // namespace atom
