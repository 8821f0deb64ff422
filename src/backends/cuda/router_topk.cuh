// The router's top-k + softmax for one token by one warp (device code), shared by RouterTopK
// (router.cu) and the MoE routing step that fuses it (moe_routing.cu).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

namespace atom::cuda {

// True when (va, ia) ranks above (vb, ib): larger value, or equal value and lower index.
__device__ __forceinline__ bool RanksAbove(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// Called by all 32 lanes of a warp for one token's logits `row` [num_experts]
// (REQUIRES num_experts <= 32·kPerLane, 1 <= k <= min(num_experts, 32)): writes the k largest
// logits' experts in descending order (ties: lower index first) to indices[0..k) and the softmax
// over just those k logits (exp(l_i − l_0), summed in slot order) to weights[0..k).
// Lane l holds experts l, l + 32, ... (coalesced loads). k rounds: each lane offers its best
// expert not yet taken, the warp reduces to the winner, and the lane holding it marks it taken.
// NaN is read as −inf and taken experts drop out of the ranking, so every round selects a new
// valid expert.
template <int kPerLane>
__device__ __forceinline__ void WarpRouterTopK(const float* __restrict__ row, int num_experts,
                                               int k, int32_t* __restrict__ indices,
                                               float* __restrict__ weights) {
  const int lane = threadIdx.x % 32;
  float v[kPerLane];
  bool live[kPerLane];
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int e = lane + 32 * j;
    live[j] = e < num_experts;
    const float x = live[j] ? row[e] : -INFINITY;
    v[j] = isnan(x) ? -INFINITY : x;
  }
  float chosen_value = 0.0f;  // lane i keeps the value of slot i
  int chosen_index = 0;
  float top = 0.0f;
  for (int slot = 0; slot < k; ++slot) {
    float best_v = -INFINITY;
    int best_i = INT32_MAX;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int e = lane + 32 * j;
      if (live[j] && RanksAbove(v[j], e, best_v, best_i)) best_v = v[j], best_i = e;
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffu, best_v, offset);
      const int oi = __shfl_xor_sync(0xffffffffu, best_i, offset);
      if (RanksAbove(ov, oi, best_v, best_i)) best_v = ov, best_i = oi;
    }
    // best_i is now the same on every lane and names a live expert (at least k are live).
#pragma unroll
    for (int j = 0; j < kPerLane; ++j)
      if (lane + 32 * j == best_i) live[j] = false;
    if (slot == 0) top = best_v;
    if (lane == slot) chosen_value = best_v, chosen_index = best_i;
  }
  // Softmax over the k chosen logits, the sum in slot order like the reference.
  const float p = lane < k ? expf(chosen_value - top) : 0.0f;
  float sum = 0.0f;
  for (int i = 0; i < k; ++i) sum += __shfl_sync(0xffffffffu, p, i);
  if (lane < k) {
    indices[lane] = chosen_index;
    weights[lane] = p / sum;
  }
}

}  // namespace atom::cuda
