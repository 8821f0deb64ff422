// MoE experts in the bf16 checkpoint layout (Hugging Face [in, out]: gate_up [E, D, 2I],
// down [E, I, D]): the simple correct path. One CTA per (token, slot) pair; threads own output
// columns, so each row of the [in, out] matrices is read coalesced; f32 FMAs throughout (the
// activation stays f32). Reads the expert's whole weights per pair: for small shapes and tests.
#include "backends/cuda/moe_device_util.cuh"
#include "backends/cuda/moe_kernels.h"

namespace atom::cuda::moe {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    Bf16ExpertsKernel(const MoeDeviceExperts ex, const __nv_bfloat16* __restrict__ x,
                      const int32_t* __restrict__ indices, int k, float* __restrict__ y) {
  extern __shared__ float s[];
  const int dim = ex.hidden, inter = ex.intermediate;
  float* xs = s;         // [D]
  float* act = s + dim;  // [I]
  const int pair = blockIdx.x, token = pair / k, expert = indices[pair];
  if (unsigned(expert) >= unsigned(ex.num_experts)) return;
  for (int c = threadIdx.x; c < dim; c += kThreads)
    xs[c] = __bfloat162float(x[int64_t(token) * dim + c]);
  __syncthreads();
  const __nv_bfloat16* w1 = ex.gate_up + int64_t(expert) * dim * 2 * inter;
  const __nv_bfloat16* b1 = ex.gate_up_bias + int64_t(expert) * 2 * inter;
  for (int j = threadIdx.x; j < inter; j += kThreads) {
    float gate = 0.0f, up = 0.0f;
    for (int c = 0; c < dim; ++c) {
      const __nv_bfloat162 w =
          *reinterpret_cast<const __nv_bfloat162*>(w1 + int64_t(c) * 2 * inter + 2 * j);
      gate = fmaf(xs[c], __low2float(w), gate);
      up = fmaf(xs[c], __high2float(w), up);
    }
    act[j] = SwiGlu(gate + __bfloat162float(b1[2 * j]), up + __bfloat162float(b1[2 * j + 1]),
                    ex.swiglu_limit, ex.swiglu_alpha);
  }
  __syncthreads();
  const __nv_bfloat16* w2 = ex.down + int64_t(expert) * inter * dim;
  const __nv_bfloat16* b2 = ex.down_bias + int64_t(expert) * dim;
  for (int r = threadIdx.x; r < dim; r += kThreads) {
    float sum = 0.0f;
    for (int c = 0; c < inter; ++c)
      sum = fmaf(act[c], __bfloat162float(w2[int64_t(c) * dim + r]), sum);
    y[int64_t(pair) * dim + r] = sum + __bfloat162float(b2[r]);
  }
}

}  // namespace

Status LaunchBf16Experts(const MoeDeviceExperts& ex, const __nv_bfloat16* x, int tokens,
                         const int32_t* indices, int k, float* y, cudaStream_t stream) {
  if (ex.format != MoeExpertFormat::kBf16 || ex.gate_up == nullptr || ex.down == nullptr)
    return InvalidArgument("MoE bf16 experts: the experts are not in the bf16 layout");
  const int pairs = tokens * k;
  if (pairs <= 0) return OkStatus();
  const size_t smem = size_t(ex.hidden + ex.intermediate) * sizeof(float);
  if (smem > 48 * 1024) {
    ATOM_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        Bf16ExpertsKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  }
  Bf16ExpertsKernel<<<pairs, kThreads, smem, stream>>>(ex, x, indices, k, y);
  return LastLaunchStatus("Bf16ExpertsKernel");
}

}  // namespace atom::cuda::moe
