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

// --kv-cache-dtype fp8: one byte per element, so a block is half a bf16 block and a quarter of an
// f32 one, and a byte budget holds twice the bf16 tokens.
TEST(KvCache, BlockBytesFollowTheDtype) {
  KvCacheSpec spec{24, 8, 64, DType::kBF16, {}};
  const uint64_t bf16 = KvCache::BlockBytes(spec, 16);
  EXPECT_EQ(bf16, 2u * 24 * 16 * 8 * 64 * 2);
  spec.dtype = DType::kF8E4M3;
  EXPECT_EQ(KvCache::BlockBytes(spec, 16) * 2, bf16);
  spec.dtype = DType::kF32;
  EXPECT_EQ(KvCache::BlockBytes(spec, 16), 2 * bf16);

  // Pools of fp8 blocks: tensors say so, and CopyBlock moves one-byte elements.
  KvCacheSpec fp8{1, 2, 8, DType::kF8E4M3, {0}};
  auto created = KvCache::Create(fp8, 6, 4);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const Tensor& key = created->view().key[0];
  EXPECT_EQ(key.dtype(), DType::kF8E4M3);
  EXPECT_EQ(key.nbytes(), 6u * 4 * 2 * 8);
  auto* bytes = key.data_as<uint8_t>();
  const int64_t block = 4 * 2 * 8;
  for (int64_t i = 0; i < block; ++i) bytes[2 * block + i] = uint8_t(i);
  bytes[5 * block] = 0xAB;  // the next block: untouched
  ASSERT_TRUE(created->CopyBlock(2, 4).ok());
  for (int64_t i = 0; i < block; ++i) ASSERT_EQ(bytes[4 * block + i], uint8_t(i));
  EXPECT_EQ(bytes[5 * block], 0xAB);
}

TEST(GreedySample, FirstMaximumWinsAndNanNever) {
  const float a[] = {1, 3, 3, 2};
  EXPECT_EQ(GreedySample(a, 4), 1);
  const float b[] = {std::nanf(""), -5, -1, std::nanf("")};
  EXPECT_EQ(GreedySample(b, 4), 2);
}

}  // namespace
}  // namespace atom
