// Greedy sampling. (Temperature, top-k/p and the other SamplingParams arrive with the engine's
// full sampler; greedy stays the deterministic baseline.)
#pragma once

#include <cstdint>

namespace atom {

// The index of the largest of logits[0, n); ties go to the lowest index, NaN never wins.
// REQUIRES: n > 0.
int32_t GreedySample(const float* logits, int64_t n);

}  // namespace atom
