// RouterTopK: per row, the k largest logits (descending, ties to the lower index) and the
// softmax over those k.
#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "core/thread_pool.h"

namespace atom::cpu {

void RouterTopK(const Tensor& logits, int k, const Tensor& indices, const Tensor& weights) {
  const int64_t num_experts = logits.dim(1);
  ATOM_CHECK(k >= 1 && k <= num_experts && indices.dim(1) == k && weights.dim(1) == k);
  ATOM_CHECK(indices.dtype() == DType::kI32 && weights.dtype() == DType::kF32);
  ThreadPool::Global().ParallelFor(logits.dim(0), 64, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* r = logits.data_as<const float>() + t * num_experts;
      int32_t* idx = indices.data_as<int32_t>() + t * k;
      float* w = weights.data_as<float>() + t * k;
      // Insertion into a sorted list of the best `filled` so far. A newcomer goes after every
      // entry whose logit is >= its own, so among equal logits the lower index stays first.
      int filled = 0;
      for (int32_t e = 0; e < num_experts; ++e) {
        if (filled == k && !(r[e] > r[idx[k - 1]])) continue;
        int pos = std::min(filled, k - 1);
        while (pos > 0 && r[e] > r[idx[pos - 1]]) {
          idx[pos] = idx[pos - 1];
          --pos;
        }
        idx[pos] = e;
        filled = std::min(filled + 1, k);
      }
      float sum = 0.0f;
      for (int i = 0; i < k; ++i) sum += std::exp(r[idx[i]] - r[idx[0]]);
      for (int i = 0; i < k; ++i) w[i] = std::exp(r[idx[i]] - r[idx[0]]) / sum;
    }
  });
}

}  // namespace atom::cpu
