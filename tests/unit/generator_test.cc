// The generation loop's contracts: request validation, stop tokens, KV block accounting.
#include <gtest/gtest.h>

#include "engine/generator.h"
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "models/registry.h"
#include "test_paths.h"

namespace atom {
namespace {

std::unique_ptr<Model> TinyModel() {
  auto model = LoadModel(testing::FixtureDir("gpt-oss-tiny-mxfp4") + "/model");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(*model) : nullptr;
}

TEST(Generator, InvalidRequestsAreRejectedWithTheirIndex) {
  auto model = TinyModel();
  ASSERT_NE(model, nullptr);
  Generator g(*model, {});
  struct Case {
    GenerateRequest request;
    std::string message;
  };
  auto request = [](std::vector<int32_t> ids, int max_tokens) {
    GenerateRequest r;
    r.prompt_ids = std::move(ids);
    r.max_tokens = max_tokens;
    return r;
  };
  const std::vector<Case> cases = {
      {request({}, 4), "prompt 1: empty"},
      {request({1, 1024}, 4), "prompt 1: token 1 (id 1024) is outside the vocabulary [0, 1024)"},
      {request({-1}, 4), "outside the vocabulary"},
      {request({1}, 0), "max_tokens must be >= 1"},
      {request({1, 2}, 131071), "exceed the context length 131072"},
  };
  for (const Case& c : cases) {
    auto r = g.Generate({{{5}, 2}, c.request});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status().message();
  }
}

TEST(Generator, StopTokenEndsTheSequenceUnlessIgnored) {
  auto model = TinyModel();
  ASSERT_NE(model, nullptr);
  // The fixture's greedy continuation of [24] starts 49, 577, 962, 66.
  GeneratorOptions options;
  options.stop_token_ids = {962};
  Generator g(*model, options);
  auto r = g.Generate({{{24}, 10}, {{24}, 10, /*ignore_eos=*/true}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].output_ids, (std::vector<int32_t>{49, 577, 962}));
  EXPECT_EQ((*r)[0].finish_reason, "stop");
  EXPECT_EQ((*r)[1].output_ids.size(), 10u);
  EXPECT_EQ((*r)[1].finish_reason, "length");
}

TEST(Generator, EmptyBatchIsFine) {
  auto model = TinyModel();
  ASSERT_NE(model, nullptr);
  Generator g(*model, {});
  auto r = g.Generate({});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(KvCache, AllocateAndFreeKeepCount) {
  KvCacheSpec spec{2, 2, 8, DType::kF32, {4, 0}};
  KvCache cache(spec, 10, 4);
  EXPECT_EQ(cache.view().key.size(), 2u);
  EXPECT_EQ(cache.view().key[0].shape(), (Shape{10, 4, 2, 8}));
  auto a = cache.Allocate(6);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(cache.num_free_blocks(), 4);
  EXPECT_FALSE(cache.Allocate(5).has_value());
  EXPECT_EQ(cache.num_free_blocks(), 4);  // a failed allocation takes nothing
  auto b = cache.Allocate(4);
  ASSERT_TRUE(b.has_value());
  std::vector<int32_t> all = *a;
  all.insert(all.end(), b->begin(), b->end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(all[i], i);  // every block handed out once
  cache.Free(*a);
  cache.Free(*b);
  EXPECT_EQ(cache.num_free_blocks(), 10);
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
