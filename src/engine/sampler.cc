#include "engine/sampler.h"

#include <limits>

namespace atom {

int32_t GreedySample(const float* logits, int64_t n) {
  int32_t best = 0;
  float best_value = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    if (logits[i] > best_value) {  // strict: the first maximum wins; NaN compares false
      best_value = logits[i];
      best = int32_t(i);
    }
  }
  return best;
}

}  // namespace atom
