// MoE routing on the device: the T·k (token, slot) pairs grouped by expert with a counting sort
// in one CTA of one thread per expert: per-expert counts (shared-memory atomics), exclusive
// prefix sums of counts, tile counts and activity (a block scan), the active-expert table, then
// the permutation. No host synchronisation: later grids are sized for the worst case and read
// these tables. With router logits the same CTA first runs the router's top-k + softmax, one
// warp per token (router_topk.cuh), and sorts what it wrote.
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/router.h"
#include "backends/cuda/router_topk.cuh"

namespace atom::cuda::moe {
namespace {

constexpr int kThreads = kMaxRoutingExperts;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xFFFFFFFFu;

// kPerLane: 0 when the indices are given, else the router logits each lane holds (top-k first).
template <int kPerLane>
__global__ void __launch_bounds__(kThreads)
    RoutingKernel(const int32_t* indices, int pairs, int num_experts, int tile_rows, Routing r,
                  FusedTopK topk) {
  __shared__ int count[kThreads];
  __shared__ int cursor[kThreads];
  __shared__ int warp_total[3][kWarps];
  const int e = threadIdx.x, lane = e % 32, warp = e / 32;
  if constexpr (kPerLane > 0) {
    // This CTA's own global writes are visible to it after the barrier below.
    for (int t = warp; t * topk.k < pairs; t += kWarps)
      WarpRouterTopK<kPerLane>(topk.logits + int64_t(t) * num_experts, num_experts, topk.k,
                               topk.indices + t * topk.k, topk.weights + t * topk.k);
  }
  count[e] = 0;
  __syncthreads();
  for (int p = e; p < pairs; p += kThreads) {
    const int expert = indices[p];
    if (unsigned(expert) < unsigned(num_experts)) atomicAdd(&count[expert], 1);
  }
  __syncthreads();

  // Inclusive scans of (pairs, tiles, active) over experts 0..e.
  const int n = e < num_experts ? count[e] : 0;
  int v[3] = {n, (n + tile_rows - 1) / tile_rows, n > 0 ? 1 : 0};
  const int own[3] = {v[0], v[1], v[2]};
#pragma unroll
  for (int i = 0; i < 3; ++i) {
#pragma unroll
    for (int o = 1; o < 32; o *= 2) {
      const int up = __shfl_up_sync(kFullMask, v[i], o);
      if (lane >= o) v[i] += up;
    }
    if (lane == 31) warp_total[i][warp] = v[i];
  }
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int i = 0; i < 3; ++i) {
      int t = warp_total[i][lane];
#pragma unroll
      for (int o = 1; o < 32; o *= 2) {
        const int up = __shfl_up_sync(kFullMask, t, o);
        if (lane >= o) t += up;
      }
      warp_total[i][lane] = t;  // inclusive over warps 0..lane
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < 3; ++i)
    if (warp > 0) v[i] += warp_total[i][warp - 1];
  if (e < num_experts) {
    const int offset = v[0] - own[0], slot = v[2] - own[2];
    r.offsets[e] = offset;
    r.tile_offsets[e] = v[1] - own[1];
    cursor[e] = offset;
    if (n > 0) {
      r.active[slot] = e;
      r.slots[slot] = make_int4(e, offset, n, 0);
    }
    if (e == num_experts - 1) {
      r.offsets[num_experts] = v[0];
      r.tile_offsets[num_experts] = v[1];
      *r.num_active = v[2];
    }
  }
  __syncthreads();
  for (int p = e; p < pairs; p += kThreads) {
    const int expert = indices[p];
    if (unsigned(expert) < unsigned(num_experts)) r.sorted[atomicAdd(&cursor[expert], 1)] = p;
  }
}

}  // namespace

Status LaunchRouting(const int32_t* indices, int pairs, int num_experts, int tile_rows,
                     const Routing& routing, cudaStream_t stream) {
  if (num_experts <= 0 || num_experts > kMaxRoutingExperts)
    return InvalidArgument("MoE routing: num_experts = {} (1..{})", num_experts,
                           kMaxRoutingExperts);
  if (pairs < 0) return InvalidArgument("MoE routing: pairs = {}", pairs);
  if (tile_rows <= 0) return InvalidArgument("MoE routing: tile_rows = {}", tile_rows);
  RoutingKernel<0>
      <<<1, kThreads, 0, stream>>>(indices, pairs, num_experts, tile_rows, routing, FusedTopK{});
  return LastLaunchStatus("RoutingKernel");
}

Status LaunchRoutingWithTopK(const FusedTopK& topk, int tokens, int num_experts, int tile_rows,
                             const Routing& routing, cudaStream_t stream) {
  if (num_experts <= 0 || num_experts > kRouterMaxExperts)
    return InvalidArgument("MoE routing: num_experts = {} (1..{} with the router fused)",
                           num_experts, kRouterMaxExperts);
  if (topk.k < 1 || topk.k > num_experts || topk.k > kRouterMaxTopK)
    return InvalidArgument("MoE routing: k = {} (1..min(num_experts, {}))", topk.k, kRouterMaxTopK);
  if (tokens < 0) return InvalidArgument("MoE routing: tokens = {}", tokens);
  if (tile_rows <= 0) return InvalidArgument("MoE routing: tile_rows = {}", tile_rows);
  if (topk.logits == nullptr || topk.indices == nullptr || topk.weights == nullptr)
    return InvalidArgument("MoE routing: null logits, indices or weights");
  const int pairs = tokens * topk.k;
  if (num_experts <= 128)
    RoutingKernel<4>
        <<<1, kThreads, 0, stream>>>(topk.indices, pairs, num_experts, tile_rows, routing, topk);
  else
    RoutingKernel<8>
        <<<1, kThreads, 0, stream>>>(topk.indices, pairs, num_experts, tile_rows, routing, topk);
  return LastLaunchStatus("RoutingKernel");
}

}  // namespace atom::cuda::moe
