// MoE routing on the device: the T·k (token, slot) pairs grouped by expert with a counting sort
// in one CTA of one thread per expert: per-expert counts (shared-memory atomics), exclusive
// prefix sums of counts, tile counts and activity (a block scan), the active-expert table, then
// the permutation. No host synchronisation: later grids are sized for the worst case and read
// these tables.
#include "backends/cuda/moe_kernels.h"

namespace atom::cuda::moe {
namespace {

constexpr int kThreads = kMaxRoutingExperts;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xFFFFFFFFu;

__global__ void __launch_bounds__(kThreads)
    RoutingKernel(const int32_t* __restrict__ indices, int pairs, int num_experts, int tile_rows,
                  Routing r) {
  __shared__ int count[kThreads];
  __shared__ int cursor[kThreads];
  __shared__ int warp_total[3][kWarps];
  const int e = threadIdx.x, lane = e % 32, warp = e / 32;
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
  RoutingKernel<<<1, kThreads, 0, stream>>>(indices, pairs, num_experts, tile_rows, routing);
  return LastLaunchStatus("RoutingKernel");
}

}  // namespace atom::cuda::moe
