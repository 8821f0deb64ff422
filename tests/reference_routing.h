// Which positions of a reference sequence a bf16 engine can be held to: a gpt-oss router picks
// its top k experts by logit, and where the reference's k-th and (k+1)-th logits are nearly tied,
// rounding (bf16 activations, another summation order) may pick the other expert. That changes
// the token's MoE output by O(1): its own row if it happens in the last layer, and through
// attention every later row if it happens in an earlier one. Such rows measure the tie, not the
// engine, so the logits bound leaves them out (and says how many).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace atom::testing {

// gaps: f32 [layers, rows], the reference router's k-th minus (k+1)-th largest logit of each
// layer and position. Returns, per row, whether no routing near-tie (gap < tie) can reach it.
inline std::vector<bool> RowsClearOfRoutingTies(const float* gaps, int64_t layers, int64_t rows,
                                                float tie) {
  std::vector<bool> clear(size_t(rows), true);
  for (int64_t layer = 0; layer < layers; ++layer)
    for (int64_t t = 0; t < rows; ++t) {
      if (!(gaps[layer * rows + t] < tie)) continue;
      const int64_t last = layer + 1 == layers ? t + 1 : rows;
      for (int64_t r = t; r < last; ++r) clear[size_t(r)] = false;
    }
  return clear;
}

}  // namespace atom::testing
