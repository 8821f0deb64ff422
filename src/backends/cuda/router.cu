#include <cmath>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/router.h"
#include "backends/cuda/router_topk.cuh"

namespace atom::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// One warp per token (router_topk.cuh).
template <int kPerLane>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    RouterTopKKernel(const float* __restrict__ logits, int64_t num_tokens, int num_experts, int k,
                     int32_t* __restrict__ indices, float* __restrict__ weights) {
  const int64_t t = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (t >= num_tokens) return;
  WarpRouterTopK<kPerLane>(logits + t * num_experts, num_experts, k, indices + t * k,
                           weights + t * k);
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
