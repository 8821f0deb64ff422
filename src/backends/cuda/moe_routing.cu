// MoE routing on the device: the T·k (token, slot) pairs grouped by expert with a counting sort
// in one CTA (per-expert counts, offsets, tile offsets, the active-expert list, the permutation).
// No host synchronisation: every later grid is sized for the worst case and reads these tables.
#include "backends/cuda/moe_kernels.h"

namespace atom::cuda::moe {
namespace {

constexpr int kThreads = 1024;

__global__ void __launch_bounds__(kThreads)
    RoutingKernel(const int32_t* __restrict__ indices, int pairs, int num_experts, int tile_rows,
                  Routing r) {
  __shared__ int count[kMaxRoutingExperts];
  __shared__ int cursor[kMaxRoutingExperts];
  for (int e = threadIdx.x; e < num_experts; e += kThreads) count[e] = 0;
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += kThreads) {
    const int e = indices[p];
    if (unsigned(e) < unsigned(num_experts)) atomicAdd(&count[e], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int offset = 0, tiles = 0, active = 0;
    for (int e = 0; e < num_experts; ++e) {
      const int n = count[e];
      r.offsets[e] = offset;
      r.tile_offsets[e] = tiles;
      cursor[e] = offset;
      if (n > 0) r.active[active++] = e;
      offset += n;
      tiles += (n + tile_rows - 1) / tile_rows;
    }
    r.offsets[num_experts] = offset;
    r.tile_offsets[num_experts] = tiles;
    *r.num_active = active;
  }
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += kThreads) {
    const int e = indices[p];
    if (unsigned(e) < unsigned(num_experts)) r.sorted[atomicAdd(&cursor[e], 1)] = p;
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
  RoutingKernel<<<1, kThreads, 0, stream>>>(indices, pairs, num_experts, tile_rows, routing);
  return LastLaunchStatus("RoutingKernel");
}

}  // namespace atom::cuda::moe
