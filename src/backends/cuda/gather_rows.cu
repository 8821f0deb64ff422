#include "backends/cuda/cuda_check.h"
#include "backends/cuda/gather_rows.h"

namespace atom::cuda {

namespace {

__global__ void GatherRowsKernel(const __nv_bfloat16* in, int64_t dim, const int32_t* rows,
                                 __nv_bfloat16* out) {
  const __nv_bfloat16* src = in + int64_t(rows[blockIdx.x]) * dim;
  __nv_bfloat16* dst = out + int64_t(blockIdx.x) * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

Status GatherRowsBf16(const __nv_bfloat16* in, int64_t dim, const int32_t* rows, int64_t num_rows,
                      __nv_bfloat16* out, cudaStream_t stream) {
  if (in == nullptr || rows == nullptr || out == nullptr)
    return InvalidArgument("GatherRowsBf16: null pointer");
  if (dim <= 0 || num_rows < 0 || num_rows > INT32_MAX)
    return InvalidArgument("GatherRowsBf16: dim {} or num_rows {} out of range", dim, num_rows);
  if (num_rows == 0) return OkStatus();
  GatherRowsKernel<<<unsigned(num_rows), 256, 0, stream>>>(in, dim, rows, out);
  return LastLaunchStatus("GatherRowsKernel");
}

}  // namespace atom::cuda
