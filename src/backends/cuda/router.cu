#include <cmath>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/router.h"

namespace atom::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// True when (va, ia) ranks above (vb, ib): larger value, or equal value and lower index.
__device__ __forceinline__ bool RanksAbove(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// One warp per token. Lane l holds experts l, l + 32, ... (kPerLane of them; coalesced loads).
// k rounds: each lane offers its best expert not yet taken, the warp reduces to the winner, and
// the lane holding it marks it taken. NaN is read as -inf, and taken experts drop out of the
// ranking entirely, so every round selects a new valid expert.
template <int kPerLane>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    RouterTopKKernel(const float* __restrict__ logits, int64_t num_tokens, int num_experts, int k,
                     int32_t* __restrict__ indices, float* __restrict__ weights) {
  const int64_t t = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (t >= num_tokens) return;
  const int lane = threadIdx.x % 32;
  const float* row = logits + t * num_experts;
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
    indices[t * k + lane] = chosen_index;
    weights[t * k + lane] = p / sum;
  }
}

template <int kPerLane>
Status Launch(const float* logits, int64_t num_tokens, int num_experts, int k, int32_t* indices,
              float* weights, cudaStream_t stream) {
  const int64_t blocks = (num_tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
  RouterTopKKernel<kPerLane><<<unsigned(blocks), kWarpsPerBlock * 32, 0, stream>>>(
      logits, num_tokens, num_experts, k, indices, weights);
  return LastLaunchStatus("RouterTopKKernel");
}

}  // namespace

Status RouterTopK(const float* logits, int64_t num_tokens, int num_experts, int k, int32_t* indices,
                  float* weights, cudaStream_t stream) {
  if (num_experts <= 0 || num_experts > kRouterMaxExperts)
    return InvalidArgument("router: num_experts {} not in [1, {}]", num_experts, kRouterMaxExperts);
  if (k < 1 || k > num_experts || k > kRouterMaxTopK)
    return InvalidArgument("router: k {} not in [1, min(num_experts {}, {})]", k, num_experts,
                           kRouterMaxTopK);
  if (num_tokens < 0 || num_tokens > int64_t(INT32_MAX) * kWarpsPerBlock)
    return InvalidArgument("router: num_tokens {} out of range", num_tokens);
  if (num_tokens == 0) return OkStatus();
  if (!logits || !indices || !weights)
    return InvalidArgument("router: null logits, indices or weights");
  // Fewest registers that hold the row: a lane holds ceil(E / 32) logits.
  if (num_experts <= 32)
    return Launch<1>(logits, num_tokens, num_experts, k, indices, weights, stream);
  if (num_experts <= 64)
    return Launch<2>(logits, num_tokens, num_experts, k, indices, weights, stream);
  if (num_experts <= 128)
    return Launch<4>(logits, num_tokens, num_experts, k, indices, weights, stream);
  return Launch<8>(logits, num_tokens, num_experts, k, indices, weights, stream);
}

}  // namespace atom::cuda
