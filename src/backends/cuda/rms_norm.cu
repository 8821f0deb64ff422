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

// The value added to the residual: none, a delta row, or the weighted sum of a token's k MoE pair
// rows (fma from zero in slot order, as moe::LaunchCombine).
struct Delta {
  const float* rows = nullptr;     // [T, dim], or [T·k, dim] with weights
  const float* weights = nullptr;  // [T, k] or null
  int k = 1;
  __device__ bool present() const { return rows != nullptr; }
  __device__ float4 At4(int64_t row, int dim, int i4) const {
    if (weights == nullptr) return reinterpret_cast<const float4*>(rows + row * dim)[i4];
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int s = 0; s < k; ++s) {
      const float w = weights[row * k + s];
      const float4 v = reinterpret_cast<const float4*>(rows + (row * k + s) * dim)[i4];
      acc.x = fmaf(w, v.x, acc.x), acc.y = fmaf(w, v.y, acc.y);
      acc.z = fmaf(w, v.z, acc.z), acc.w = fmaf(w, v.w, acc.w);
    }
    return acc;
  }
  __device__ float At(int64_t row, int dim, int i) const {
    if (weights == nullptr) return rows[row * dim + i];
    float acc = 0.0f;
    for (int s = 0; s < k; ++s)
      acc = fmaf(weights[row * k + s], rows[(row * k + s) * dim + i], acc);
    return acc;
  }
};

// One block per row; each thread holds up to kUnits units of 8 elements in registers, so the row
// is read once and written once. Unit u of the row is handled by thread u % blockDim.x.
template <int kUnits>
__global__ void __launch_bounds__(kMaxThreads)
    FusedAddRmsNormVec8Kernel(float* __restrict__ residual, const Delta delta,
                              const __nv_bfloat16* __restrict__ gain, float eps, int dim,
                              __nv_bfloat16* __restrict__ out) {
  const int64_t row = blockIdx.x;
  float4* res = reinterpret_cast<float4*>(residual + row * dim);
  const int units = dim / 8;
  float x[kUnits][8];
  float sum_sq = 0.0f;
#pragma unroll
  for (int j = 0; j < kUnits; ++j) {
    const int u = threadIdx.x + j * blockDim.x;
    if (u < units) {
      float4 a = res[2 * u], b = res[2 * u + 1];
      if (delta.present()) {
        const float4 da = delta.At4(row, dim, 2 * u), db = delta.At4(row, dim, 2 * u + 1);
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
    FusedAddRmsNormScalarKernel(float* __restrict__ residual, const Delta delta,
                                const __nv_bfloat16* __restrict__ gain, float eps, int dim,
                                __nv_bfloat16* __restrict__ out) {
  const int64_t row = blockIdx.x;
  float* res = residual + row * dim;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = res[i];
    if (delta.present()) {
      v += delta.At(row, dim, i);
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
Status LaunchVec8(float* residual, const Delta& delta, const __nv_bfloat16* gain, float eps,
                  int64_t num_tokens, int64_t dim, __nv_bfloat16* out, cudaStream_t stream) {
  const int64_t units = dim / 8;
  const int threads = RoundUpToWarps((units + kUnits - 1) / kUnits);
  FusedAddRmsNormVec8Kernel<kUnits>
      <<<unsigned(num_tokens), threads, 0, stream>>>(residual, delta, gain, eps, int(dim), out);
  return LastLaunchStatus("FusedAddRmsNormVec8Kernel");
}

Status Launch(float* residual, const Delta& delta, const __nv_bfloat16* gain, float eps,
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
                          Aligned16(out) && (delta.rows == nullptr || Aligned16(delta.rows));
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

}  // namespace

Status FusedAddRmsNorm(float* residual, const float* delta, const __nv_bfloat16* gain, float eps,
                       int64_t num_tokens, int64_t dim, __nv_bfloat16* out, cudaStream_t stream) {
  Delta d;
  d.rows = delta;
  return Launch(residual, d, gain, eps, num_tokens, dim, out, stream);
}

Status FusedCombineAddRmsNorm(float* residual, const float* pair_rows, const float* weights, int k,
                              const __nv_bfloat16* gain, float eps, int64_t num_tokens, int64_t dim,
                              __nv_bfloat16* out, cudaStream_t stream) {
  if (k < 1 || k > 32) return InvalidArgument("rms_norm: k = {} (1..32)", k);
  if (num_tokens > 0 && (pair_rows == nullptr || weights == nullptr))
    return InvalidArgument("rms_norm: null pair_rows or weights");
  Delta d;
  d.rows = pair_rows;
  d.weights = weights;
  d.k = k;
  return Launch(residual, d, gain, eps, num_tokens, dim, out, stream);
}

}  // namespace atom::cuda
