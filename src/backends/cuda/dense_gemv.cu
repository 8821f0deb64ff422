// DenseGemv (dense_gemv.h). A CTA is four warps. Unsplit, each warp owns two output rows and
// its lanes walk the row in 16-byte chunks (8 bf16), lane l taking chunks l, l + 32, ...; split,
// the four warps share one row and lane l of warp w takes chunks 32w + l, 32w + l + 128, ....
// Each lane issues kUnroll chunks of every row (and of every token's x, which stays in L1/L2)
// before it multiplies, so with ~16 warps per SM about 64 KB of weights are in flight per SM.
// The weights are read once: loads skip L1 (ld.global.nc.L1::no_allocate).
// Sums: per lane in chunk order, then a butterfly over the warp, then (split) warps 0..3 in
// order; the chunk-to-lane map depends on `in` and the split only, never on `tokens`.
#include "backends/cuda/bf16_vector.cuh"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/dense_gemv.h"

namespace atom::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

// acc += Σ of the 8 products of two chunks of bf16, in element order.
__device__ __forceinline__ float Dot8(const uint4& w, const uint4& x, float acc) {
  const uint32_t ws[4] = {w.x, w.y, w.z, w.w}, xs[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    acc = fmaf(__uint_as_float(ws[i] << 16), __uint_as_float(xs[i] << 16), acc);
    acc = fmaf(__uint_as_float(ws[i] & 0xFFFF0000u), __uint_as_float(xs[i] & 0xFFFF0000u), acc);
  }
  return acc;
}

// kTokens: the most tokens this instance serves (args.tokens may be fewer). kSplit: warps per
// row group (1 or kWarps); a group has kRows rows.
template <int kTokens, int kSplit>
__global__ void __launch_bounds__(kThreads) DenseGemvKernel(const DenseGemvArgs a) {
  constexpr int kRows = kSplit == 1 ? 2 : 1;
  constexpr int kUnroll = kTokens <= 2 ? 4 : 2;
  constexpr int kStride = 32 * kSplit;  // chunks between a lane's consecutive chunks
  __shared__ float partial[kWarps][kRows][kTokens];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int split = warp % kSplit;
  const int row0 = (blockIdx.x * (kWarps / kSplit) + warp / kSplit) * kRows;
  const int chunks = a.in / 8;
  const uint4* w_row[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r)  // rows past the end read the last row and are not written
    w_row[r] = reinterpret_cast<const uint4*>(a.weight) +
               int64_t(min(row0 + r, a.out_features - 1)) * chunks;
  const uint4* x_row[kTokens];
#pragma unroll
  for (int t = 0; t < kTokens; ++t)
    x_row[t] = reinterpret_cast<const uint4*>(a.x + int64_t(min(t, a.tokens - 1)) * a.x_stride);

  float acc[kRows][kTokens] = {};
  for (int c0 = split * 32 + lane; c0 < chunks; c0 += kStride * kUnroll) {
    uint4 w[kUnroll][kRows], x[kUnroll][kTokens];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * kStride;
      if (c < chunks) {
#pragma unroll
        for (int r = 0; r < kRows; ++r) w[u][r] = LoadStreaming(w_row[r] + c);
#pragma unroll
        for (int t = 0; t < kTokens; ++t) x[u][t] = __ldg(x_row[t] + c);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (c0 + u * kStride < chunks) {
#pragma unroll
        for (int r = 0; r < kRows; ++r)
#pragma unroll
          for (int t = 0; t < kTokens; ++t) acc[r][t] = Dot8(w[u][r], x[u][t], acc[r][t]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kTokens; ++t)
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2)
        acc[r][t] += __shfl_xor_sync(0xFFFFFFFFu, acc[r][t], offset);
  if constexpr (kSplit > 1) {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int t = 0; t < kTokens; ++t) partial[warp][r][t] = acc[r][t];
    }
    __syncthreads();
    if (split != 0) return;
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        float sum = partial[warp][r][t];
#pragma unroll
        for (int s = 1; s < kSplit; ++s) sum += partial[warp + s][r][t];
        acc[r][t] = sum;
      }
  }
  // Lane r·kTokens + t writes element (row0 + r, t).
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      const int row = row0 + r;
      if (lane != r * kTokens + t || t >= a.tokens || row >= a.out_features) continue;
      float v = acc[r][t];
      if (a.bias != nullptr)
        v += a.bias_dtype == GemvDType::kF32
                 ? static_cast<const float*>(a.bias)[row]
                 : __bfloat162float(static_cast<const __nv_bfloat16*>(a.bias)[row]);
      const int64_t at = int64_t(t) * a.out_stride + row;
      if (a.out_dtype == GemvDType::kF32)
        static_cast<float*>(a.out)[at] = v;
      else
        static_cast<__nv_bfloat16*>(a.out)[at] = __float2bfloat16_rn(v);
    }
}

template <int kTokens>
Status Launch(const DenseGemvArgs& a, int split, cudaStream_t stream) {
  if (split == 1) {
    const int groups = (a.out_features + 1) / 2;
    DenseGemvKernel<kTokens, 1><<<(groups + kWarps - 1) / kWarps, kThreads, 0, stream>>>(a);
  } else {
    DenseGemvKernel<kTokens, kWarps><<<a.out_features, kThreads, 0, stream>>>(a);
  }
  return LastLaunchStatus("DenseGemvKernel");
}

int MultiprocessorCount() {
  static thread_local int cached[8] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 1;
  int& sms = cached[device % 8];
  if (sms == 0 &&
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    sms = 1;
  return sms;
}

}  // namespace

Status DenseGemv(const DenseGemvArgs& a, cudaStream_t stream) {
  if (a.tokens < 1 || a.tokens > kDenseGemvMaxTokens)
    return InvalidArgument("dense gemv: tokens = {} (1..{})", a.tokens, kDenseGemvMaxTokens);
  if (a.in <= 0 || a.in % 8 != 0)
    return InvalidArgument("dense gemv: in = {} (a positive multiple of 8)", a.in);
  if (a.out_features <= 0) return InvalidArgument("dense gemv: out_features = {}", a.out_features);
  if (a.x == nullptr || a.weight == nullptr || a.out == nullptr)
    return InvalidArgument("dense gemv: null x, weight or out");
  if (reinterpret_cast<uintptr_t>(a.x) % 16 != 0 || reinterpret_cast<uintptr_t>(a.weight) % 16 ||
      a.x_stride % 8 != 0 || (a.tokens > 1 && a.x_stride < a.in))
    return InvalidArgument("dense gemv: x and weight must be 16-byte aligned rows (x_stride {})",
                           a.x_stride);
  if (a.tokens > 1 && a.out_stride < a.out_features)
    return InvalidArgument("dense gemv: out_stride {} < out_features {}", a.out_stride,
                           a.out_features);
  int split = a.split;
  if (split == 0)
    split = a.tokens <= 2 || (a.out_features + 1) / 2 < 8 * MultiprocessorCount() ? kWarps : 1;
  if (split != 1 && split != kWarps)
    return InvalidArgument("dense gemv: split = {} (0, 1 or {})", split, kWarps);
  if (a.tokens == 1) return Launch<1>(a, split, stream);
  if (a.tokens == 2) return Launch<2>(a, split, stream);
  if (a.tokens <= 4) return Launch<4>(a, split, stream);
  return Launch<8>(a, split, stream);
}

}  // namespace atom::cuda
