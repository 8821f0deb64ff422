// KvCache layout and greedy sampling's tie rules.
#include "engine/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/sampler.h"

namespace atom {
namespace {

TEST(KvCache, OnePoolPerLayerForKeysAndValues) {
  KvCacheSpec spec{2, 2, 8, DType::kF32, {4, 0}};
  auto created = KvCache::Create(spec, 10, 4);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  KvCache& cache = *created;
  ASSERT_EQ(cache.view().key.size(), 2u);
  ASSERT_EQ(cache.view().value.size(), 2u);
  EXPECT_EQ(cache.view().key[0].shape(), (Shape{10, 4, 2, 8}));
  EXPECT_NE(cache.view().key[0].data(), cache.view().value[0].data());
  EXPECT_NE(cache.view().key[0].data(), cache.view().key[1].data());
  EXPECT_EQ(KvCache::BlockBytes(spec, 4), 2u * 2 * 4 * 2 * 8 * 4);
  // CopyBlock copies one block of every pool and nothing else.
  float* k1 = cache.view().key[1].data_as<float>();
  const int64_t block = 4 * 2 * 8;
  for (int64_t i = 0; i < block; ++i) k1[3 * block + i] = float(i);
  for (int64_t i = 0; i < block; ++i) k1[8 * block + i] = -1.0f;  // the next block: untouched
  ASSERT_TRUE(cache.CopyBlock(3, 7).ok());
  for (int64_t i = 0; i < block; ++i) ASSERT_EQ(k1[7 * block + i], float(i));
  EXPECT_EQ(k1[8 * block], -1.0f);
  EXPECT_FALSE(KvCache::Create(spec, 0, 4).ok());
}

TEST(GreedySample, FirstMaximumWinsAndNanNever) {
  const float a[] = {1, 3, 3, 2};
  EXPECT_EQ(GreedySample(a, 4), 1);
  const float b[] = {std::nanf(""), -5, -1, std::nanf("")};
  EXPECT_EQ(GreedySample(b, 4), 2);
}

}  // namespace
}  // namespace atom
