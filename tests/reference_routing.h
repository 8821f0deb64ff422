// Which positions of a reference sequence a bf16 engine can be held to: a gpt-oss router picks
// its top k experts by logit, and where the reference's k-th and (k+1)-th logits are nearly tied,
// rounding (bf16 activations, another summation order) may pick the other expert. That changes
// the token's own MoE output by O(1), so its row measures the tie, not the engine, and the logits
// bound leaves it out (and says how many). Later rows see the flipped token only through
// attention, weighted by the attention they pay it, and stay in: leaving out every row after a
// tie in an early layer left too few rows of the tiny fixtures, whose routers tie often.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace atom::testing {

// gaps: f32 [layers, rows], the reference router's k-th minus (k+1)-th largest logit of each
// layer and position. Returns, per row, whether its routing is clear of near-ties (gap >= tie)
// in every layer.
inline std::vector<bool> RowsClearOfRoutingTies(const float* gaps, int64_t layers, int64_t rows,
                                                float tie) {
  std::vector<bool> clear(size_t(rows), true);
  for (int64_t layer = 0; layer < layers; ++layer)
    for (int64_t t = 0; t < rows; ++t)
      if (gaps[layer * rows + t] < tie) clear[size_t(t)] = false;
  return clear;
}

}  // namespace atom::testing
