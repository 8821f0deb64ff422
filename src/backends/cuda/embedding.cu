#include <cmath>

#include "backends/cuda/bf16_vector.cuh"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/embedding.h"

namespace atom::cuda {
namespace {

constexpr int kThreads = 256;

// One block per token; 8 elements (one 16-byte bf16 load, two 16-byte f32 stores) per step.
__global__ void __launch_bounds__(kThreads)
    EmbeddingVec8Kernel(const __nv_bfloat16* __restrict__ table, int64_t vocab, int64_t dim,
                        const int32_t* __restrict__ ids, float* __restrict__ out) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  float4* dst = reinterpret_cast<float4*>(out + t * dim);
  const int64_t units = dim / 8;
  if (id < 0 || id >= vocab) {
    const float4 nan4 = make_float4(NAN, NAN, NAN, NAN);
    for (int64_t u = threadIdx.x; u < units; u += kThreads) dst[2 * u] = dst[2 * u + 1] = nan4;
    return;
  }
  const __nv_bfloat16* src = table + int64_t(id) * dim;
  for (int64_t u = threadIdx.x; u < units; u += kThreads) {
    float v[8];
    LoadBf16x8(src + 8 * u, v);
    dst[2 * u] = make_float4(v[0], v[1], v[2], v[3]);
    dst[2 * u + 1] = make_float4(v[4], v[5], v[6], v[7]);
  }
}

// Any dim and alignment: one element per step.
__global__ void __launch_bounds__(kThreads)
    EmbeddingScalarKernel(const __nv_bfloat16* __restrict__ table, int64_t vocab, int64_t dim,
                          const int32_t* __restrict__ ids, float* __restrict__ out) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  const bool valid = id >= 0 && id < vocab;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads)
    out[t * dim + i] = valid ? __bfloat162float(table[int64_t(id) * dim + i]) : NAN;
}

}  // namespace

Status EmbeddingBf16(const __nv_bfloat16* table, int64_t vocab, int64_t dim, const int32_t* ids,
                     int64_t num_tokens, float* out, cudaStream_t stream) {
  if (vocab <= 0 || dim <= 0)
    return InvalidArgument("embedding: vocab {} and dim {} must be > 0", vocab, dim);
  if (num_tokens < 0 || num_tokens > INT32_MAX)
    return InvalidArgument("embedding: num_tokens {} out of range", num_tokens);
  if (num_tokens == 0) return OkStatus();
  if (table == nullptr || ids == nullptr || out == nullptr)
    return InvalidArgument("embedding: null table, ids or out");
  const dim3 grid(static_cast<unsigned>(num_tokens));
  if (dim % 8 == 0 && Aligned16(table) && Aligned16(out)) {
    EmbeddingVec8Kernel<<<grid, kThreads, 0, stream>>>(table, vocab, dim, ids, out);
    return LastLaunchStatus("EmbeddingVec8Kernel");
  }
  EmbeddingScalarKernel<<<grid, kThreads, 0, stream>>>(table, vocab, dim, ids, out);
  return LastLaunchStatus("EmbeddingScalarKernel");
}

}  // namespace atom::cuda
