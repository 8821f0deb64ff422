// KvCache layout and greedy sampling's tie rules.
#include <cmath>

#include <gtest/gtest.h>

#include "engine/kv_cache.h"
#include "engine/sampler.h"

namespace atom {
namespace {

TEST(KvCache, OnePoolPerLayerForKeysAndValues) {
  KvCacheSpec spec{2, 2, 8, DType::kF32, {4, 0}};
  KvCache cache(spec, 10, 4);
  ASSERT_EQ(cache.view().key.size(), 2u);
  ASSERT_EQ(cache.view().value.size(), 2u);
  EXPECT_EQ(cache.view().key[0].shape(), (Shape{10, 4, 2, 8}));
  EXPECT_NE(cache.view().key[0].data(), cache.view().value[0].data());
  EXPECT_NE(cache.view().key[0].data(), cache.view().key[1].data());
  EXPECT_EQ(KvCache::BlockBytes(spec, 4), 2u * 2 * 4 * 2 * 8 * 4);
}

TEST(GreedySample, FirstMaximumWinsAndNanNever) {
  const float a[] = {1, 3, 3, 2};
  EXPECT_EQ(GreedySample(a, 4), 1);
  const float b[] = {std::nanf(""), -5, -1, std::nanf("")};
  EXPECT_EQ(GreedySample(b, 4), 2);
}

}  // namespace
}  // namespace atom
