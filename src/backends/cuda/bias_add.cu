#include <cuda_bf16.h>

#include "backends/cuda/bias_add.h"
#include "backends/cuda/cuda_check.h"

namespace atom::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ void Assign(float& dst, float v) { dst = v; }
__device__ __forceinline__ void Assign(__nv_bfloat16& dst, float v) {
  dst = __float2bfloat16_rn(v);
}

// grid (rows, column blocks).
template <typename Out, typename Bias>
__global__ void __launch_bounds__(kThreads)
    AddBiasRowsKernel(Out* __restrict__ out, int64_t ld_out, const Bias* __restrict__ bias,
                      int64_t cols) {
  const int64_t c = int64_t(blockIdx.y) * kThreads + threadIdx.x;
  if (c >= cols) return;
  Out& o = out[int64_t(blockIdx.x) * ld_out + c];
  Assign(o, ToFloat(o) + ToFloat(bias[c]));
}

template <typename Out, typename Bias>
Status Launch(void* out, int64_t ld_out, const void* bias, int64_t rows, int64_t cols,
              cudaStream_t stream) {
  const dim3 grid(unsigned(rows), unsigned((cols + kThreads - 1) / kThreads));
  AddBiasRowsKernel<Out, Bias><<<grid, kThreads, 0, stream>>>(static_cast<Out*>(out), ld_out,
                                                              static_cast<const Bias*>(bias), cols);
  return LastLaunchStatus("AddBiasRowsKernel");
}

}  // namespace

Status AddBiasRows(void* out, bool out_is_bf16, int64_t ld_out, const void* bias, bool bias_is_bf16,
                   int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows < 0 || rows > INT32_MAX || cols < 0 || cols > 65535 * int64_t(kThreads) || ld_out < cols)
    return InvalidArgument("bias_add: rows {}, cols {}, ld_out {} out of range", rows, cols,
                           ld_out);
  if (rows == 0 || cols == 0) return OkStatus();
  if (!out || !bias) return InvalidArgument("bias_add: null out or bias");
  if (out_is_bf16) {
    return bias_is_bf16
               ? Launch<__nv_bfloat16, __nv_bfloat16>(out, ld_out, bias, rows, cols, stream)
               : Launch<__nv_bfloat16, float>(out, ld_out, bias, rows, cols, stream);
  }
  return bias_is_bf16 ? Launch<float, __nv_bfloat16>(out, ld_out, bias, rows, cols, stream)
                      : Launch<float, float>(out, ld_out, bias, rows, cols, stream);
}

}  // namespace atom::cuda
