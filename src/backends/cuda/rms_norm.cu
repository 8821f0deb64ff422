#include "backends/cuda/bf16_vector.cuh"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/rms_norm.h"

namespace atom::cuda {
namespace {

constexpr int kMaxThreads = 1024;

// Sum of `v` over the block. REQUIRES: blockDim.x % 32 == 0; every thread calls it.
__device__ float BlockSum(float v) {
  __shared__ float warp_sums[kMaxThreads / 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  v = lane < warps ? warp_sums[lane] : 0.0f;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;  // every thread holds the total
}

// One block per row; each thread holds up to kUnits units of 8 elements in registers, so the row
// is read once and written once. Unit u of the row is handled by thread u % blockDim.x.
template <int kUnits>
__global__ void __launch_bounds__(kMaxThreads)
    FusedAddRmsNormVec8Kernel(float* __restrict__ residual, const float* __restrict__ delta,
                              const __nv_bfloat16* __restrict__ gain, float eps, int dim,
                              __nv_bfloat16* __restrict__ out) {
  const int64_t row = blockIdx.x;
  float4* res = reinterpret_cast<float4*>(residual + row * dim);
  const float4* del = delta ? reinterpret_cast<const float4*>(delta + row * dim) : nullptr;
  const int units = dim / 8;
  float x[kUnits][8];
  float sum_sq = 0.0f;
#pragma unroll
  for (int j = 0; j < kUnits; ++j) {
    const int u = threadIdx.x + j * blockDim.x;
    if (u < units) {
      float4 a = res[2 * u], b = res[2 * u + 1];
      if (del) {
        const float4 da = del[2 * u], db = del[2 * u + 1];
        a.x += da.x, a.y += da.y, a.z += da.z, a.w += da.w;
        b.x += db.x, b.y += db.y, b.z += db.z, b.w += db.w;
        res[2 * u] = a;
        res[2 * u + 1] = b;
      }
      x[j][0] = a.x, x[j][1] = a.y, x[j][2] = a.z, x[j][3] = a.w;
      x[j][4] = b.x, x[j][5] = b.y, x[j][6] = b.z, x[j][7] = b.w;
#pragma unroll
      for (int i = 0; i < 8; ++i) sum_sq += x[j][i] * x[j][i];
    }
  }
  const float inv_rms = 1.0f / sqrtf(BlockSum(sum_sq) / float(dim) + eps);
#pragma unroll
  for (int j = 0; j < kUnits; ++j) {
    const int u = threadIdx.x + j * blockDim.x;
    if (u < units) {
      float g[8], y[8];
      LoadBf16x8(gain + 8 * u, g);
#pragma unroll
      for (int i = 0; i < 8; ++i) y[i] = x[j][i] * inv_rms * g[i];
      StoreBf16x8(out + row * dim + 8 * u, y);
    }
  }
}

// Any dim or alignment: two passes over the row (the second re-reads what this thread wrote).
__global__ void __launch_bounds__(kMaxThreads)
    FusedAddRmsNormScalarKernel(float* __restrict__ residual, const float* __restrict__ delta,
                                const __nv_bfloat16* __restrict__ gain, float eps, int dim,
                                __nv_bfloat16* __restrict__ out) {
  const int64_t row = blockIdx.x;
  float* res = residual + row * dim;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = res[i];
    if (delta) {
      v += delta[row * dim + i];
      res[i] = v;
    }
    sum_sq += v * v;
  }
  const float inv_rms = 1.0f / sqrtf(BlockSum(sum_sq) / float(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    out[row * dim + i] = __float2bfloat16_rn(res[i] * inv_rms * __bfloat162float(gain[i]));
}

int RoundUpToWarps(int64_t n) { return int((n + 31) / 32 * 32); }

template <int kUnits>
Status LaunchVec8(float* residual, const float* delta, const __nv_bfloat16* gain, float eps,
                  int64_t num_tokens, int64_t dim, __nv_bfloat16* out, cudaStream_t stream) {
  const int64_t units = dim / 8;
  const int threads = RoundUpToWarps((units + kUnits - 1) / kUnits);
  FusedAddRmsNormVec8Kernel<kUnits>
      <<<unsigned(num_tokens), threads, 0, stream>>>(residual, delta, gain, eps, int(dim), out);
  return LastLaunchStatus("FusedAddRmsNormVec8Kernel");
}

}  // namespace

Status FusedAddRmsNorm(float* residual, const float* delta, const __nv_bfloat16* gain, float eps,
                       int64_t num_tokens, int64_t dim, __nv_bfloat16* out, cudaStream_t stream) {
  if (dim <= 0 || dim > kRmsNormMaxDim)
    return InvalidArgument("rms_norm: dim {} not in [1, {}]", dim, kRmsNormMaxDim);
  if (num_tokens < 0 || num_tokens > INT32_MAX)
    return InvalidArgument("rms_norm: num_tokens {} out of range", num_tokens);
  if (!(eps >= 0.0f)) return InvalidArgument("rms_norm: eps {} must be >= 0", eps);
  if (num_tokens == 0) return OkStatus();
  if (residual == nullptr || gain == nullptr || out == nullptr)
    return InvalidArgument("rms_norm: null residual, gain or out");
  const bool vectorised = dim % 8 == 0 && Aligned16(residual) && Aligned16(gain) &&
                          Aligned16(out) && (delta == nullptr || Aligned16(delta));
  if (vectorised) {
    // Fewest registers per thread that still fit the row in one block of <= 1024 threads; a
    // gpt-oss row (2880 = 360 units) takes 2 units per thread, 192 threads.
    const int64_t units = dim / 8;
    if (units <= 2 * kMaxThreads)
      return LaunchVec8<2>(residual, delta, gain, eps, num_tokens, dim, out, stream);
    if (units <= 4 * kMaxThreads)
      return LaunchVec8<4>(residual, delta, gain, eps, num_tokens, dim, out, stream);
    // Longer rows would spill; they take the two-pass path.
  }
  const int threads = int(dim < 1024 ? RoundUpToWarps(dim) : 1024);
  FusedAddRmsNormScalarKernel<<<unsigned(num_tokens), threads, 0, stream>>>(residual, delta, gain,
                                                                            eps, int(dim), out);
  return LastLaunchStatus("FusedAddRmsNormScalarKernel");
}

}  // namespace atom::cuda
