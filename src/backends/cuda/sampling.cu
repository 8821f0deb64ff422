#include "backends/cuda/cuda_check.h"
#include "backends/cuda/sampling.h"

namespace atom::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 2048;  // logits per block: 201,088 logits make 99 blocks per row

// A 64-bit key whose unsigned order is (value ascending, index descending): the largest key is
// the largest value at its lowest index. NaN and -inf get value key 0 and so never beat a
// number; a row without one gives index 0 (GreedySample's rule).
__device__ __forceinline__ uint64_t Key(float v, uint32_t index) {
  const uint32_t bits = __float_as_uint(v);
  const uint32_t ordered = (isnan(v) || v == -INFINITY) ? 0u
                           : (bits & 0x80000000u)       ? ~bits
                                                        : (bits | 0x80000000u);
  return (uint64_t(ordered) << 32) | (0xFFFFFFFFu - index);
}

__device__ __forceinline__ uint64_t WarpMax(uint64_t k) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const uint64_t o = __shfl_xor_sync(0xffffffffu, k, offset);
    k = o > k ? o : k;
  }
  return k;
}

// grid (chunks, rows): each block reduces kChunk logits of its row and folds the result into
// best[row] with one atomicMax.
template <bool kVec4>
__global__ void __launch_bounds__(kThreads)
    ArgmaxChunkKernel(const float* __restrict__ logits, int64_t vocab, int64_t ld,
                      unsigned long long* __restrict__ best) {
  const int64_t row = blockIdx.y;
  const int64_t begin = int64_t(blockIdx.x) * kChunk;
  const int64_t end = begin + kChunk < vocab ? begin + kChunk : vocab;
  const float* x = logits + row * ld;
  uint64_t key = 0;
  if (kVec4) {
    for (int64_t i = begin + 4 * threadIdx.x; i < end; i += 4 * kThreads) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(x + i));
      const uint64_t a = Key(v.x, uint32_t(i)), b = Key(v.y, uint32_t(i + 1));
      const uint64_t c = Key(v.z, uint32_t(i + 2)), d = Key(v.w, uint32_t(i + 3));
      const uint64_t ab = a > b ? a : b, cd = c > d ? c : d, m = ab > cd ? ab : cd;
      key = m > key ? m : key;
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
      const uint64_t k = Key(x[i], uint32_t(i));
      key = k > key ? k : key;
    }
  }
  __shared__ uint64_t warp_best[kThreads / 32];
  key = WarpMax(key);
  if (threadIdx.x % 32 == 0) warp_best[threadIdx.x / 32] = key;
  __syncthreads();
  if (threadIdx.x < 32) {
    key = WarpMax(threadIdx.x < kThreads / 32 ? warp_best[threadIdx.x] : 0);
    if (threadIdx.x == 0) atomicMax(best + row, static_cast<unsigned long long>(key));
  }
}

__global__ void ArgmaxFinishKernel(const unsigned long long* __restrict__ best, int64_t rows,
                                   int32_t* __restrict__ out) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r < rows) out[r] = int32_t(0xFFFFFFFFu - uint32_t(best[r] & 0xFFFFFFFFu));
}

}  // namespace

Status ArgmaxRows(const float* logits, int64_t rows, int64_t vocab, int64_t ld, int32_t* out,
                  void* workspace, cudaStream_t stream) {
  if (vocab <= 0 || vocab > INT32_MAX || ld < vocab)
    return InvalidArgument("argmax: vocab {} must be in [1, 2^31) and <= ld {}", vocab, ld);
  if (rows < 0 || rows > 65535) return InvalidArgument("argmax: rows {} not in [0, 65535]", rows);
  if (rows == 0) return OkStatus();
  if (!logits || !out || !workspace)
    return InvalidArgument("argmax: null logits, out or workspace");
  auto* best = static_cast<unsigned long long*>(workspace);
  ATOM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(best, 0, ArgmaxWorkspaceBytes(rows), stream));
  const dim3 grid(unsigned((vocab + kChunk - 1) / kChunk), unsigned(rows));
  const bool vec4 = vocab % 4 == 0 && ld % 4 == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0;
  if (vec4)
    ArgmaxChunkKernel<true><<<grid, kThreads, 0, stream>>>(logits, vocab, ld, best);
  else
    ArgmaxChunkKernel<false><<<grid, kThreads, 0, stream>>>(logits, vocab, ld, best);
  ATOM_RETURN_IF_ERROR(LastLaunchStatus("ArgmaxChunkKernel"));
  ArgmaxFinishKernel<<<unsigned((rows + 255) / 256), 256, 0, stream>>>(best, rows, out);
  return LastLaunchStatus("ArgmaxFinishKernel");
}

}  // namespace atom::cuda
