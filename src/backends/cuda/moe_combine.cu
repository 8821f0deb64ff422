// MoE combine: out[t] = Σ_{i<k} weights[t, i] · y[t·k + i], summed in slot order from zero,
// as ops::MoeExpertsFn requires of every backend.
#include <algorithm>

#include "backends/cuda/moe_kernels.h"

namespace atom::cuda::moe {
namespace {

__global__ void CombineKernel(const float4* __restrict__ y, const float* __restrict__ weights,
                              int tokens, int k, int dim4, float4* __restrict__ out) {
  const int64_t total = int64_t(tokens) * dim4;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / dim4, d = i % dim4;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int s = 0; s < k; ++s) {
      const float w = weights[t * k + s];
      const float4 v = y[(t * k + s) * dim4 + d];
      acc.x = fmaf(w, v.x, acc.x);
      acc.y = fmaf(w, v.y, acc.y);
      acc.z = fmaf(w, v.z, acc.z);
      acc.w = fmaf(w, v.w, acc.w);
    }
    out[i] = acc;
  }
}

}  // namespace

Status LaunchCombine(const float* y, const float* weights, int tokens, int k, int dim, float* out,
                     cudaStream_t stream) {
  if (dim % 4 != 0) return InvalidArgument("MoE combine: dim = {} (a multiple of 4)", dim);
  if (tokens <= 0) return OkStatus();
  const int64_t total = int64_t(tokens) * (dim / 4);
  const int threads = 256;
  const int grid = int(std::min<int64_t>((total + threads - 1) / threads, 8192));
  CombineKernel<<<grid, threads, 0, stream>>>(reinterpret_cast<const float4*>(y), weights, tokens,
                                              k, dim / 4, reinterpret_cast<float4*>(out));
  return LastLaunchStatus("CombineKernel");
}

}  // namespace atom::cuda::moe
