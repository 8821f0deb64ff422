// The profiling pass's step shapes (engine/memory_profile.h): the largest prefill, the largest
// decode at the longest context, and the mixed step, clamped by the engine's limits.
#include "engine/memory_profile.h"

#include <gtest/gtest.h>

namespace atom {
namespace {

using Shape = ProfileStepShape;

TEST(MemoryProfileSteps, DefaultEngineLimits) {
  EngineConfig config;  // 8192 tokens per step, 256 sequences, the model's whole context
  EXPECT_EQ(MemoryProfileSteps(config, 131072),
            (std::vector<Shape>{{0, 0, 8192}, {256, 131072, 0}, {255, 131072, 7937}}));
}

TEST(MemoryProfileSteps, ClampedByMaxModelLenAndTheTokenBudget) {
  EngineConfig config;
  config.max_model_len = 4096;
  EXPECT_EQ(MemoryProfileSteps(config, 131072),
            (std::vector<Shape>{{0, 0, 4096}, {256, 4096, 0}, {255, 4096, 4096}}));
  config.max_model_len = 0;
  config.scheduler.max_num_batched_tokens = 100;  // fewer tokens than sequences
  EXPECT_EQ(MemoryProfileSteps(config, 2048),
            (std::vector<Shape>{{0, 0, 100}, {100, 2048, 0}, {99, 2048, 1}}));
  config.scheduler.max_num_seqs = 1;  // no decode beside the prefill: no mixed step
  EXPECT_EQ(MemoryProfileSteps(config, 2048),
            (std::vector<Shape>{{0, 0, 100}, {1, 2048, 0}, {0, 2048, 100}}));
}

}  // namespace
}  // namespace atom
