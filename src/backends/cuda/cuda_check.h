// CUDA runtime errors as Status. Included by host (.cc) and device (.cu) sources alike.
#pragma once

#include <cuda_runtime.h>

#include <string_view>

#include "core/status.h"

namespace atom::cuda {

// An Internal status naming the call that failed and the runtime's description of `error`.
Status CudaError(cudaError_t error, std::string_view what);

// Returns a CudaError from the enclosing function if `expr` (a cudaError_t) is not cudaSuccess.
#define ATOM_CUDA_RETURN_IF_ERROR(expr)                                 \
  do {                                                                  \
    if (cudaError_t atom_cuda_error_ = (expr); atom_cuda_error_ != cudaSuccess) \
      return ::atom::cuda::CudaError(atom_cuda_error_, #expr);          \
  } while (0)

// OK, or a CudaError naming `what`.
inline Status CudaStatusOf(cudaError_t error, std::string_view what) {
  return error == cudaSuccess ? OkStatus() : CudaError(error, what);
}

// The error of the last kernel launch on this thread (launch configuration, missing image).
inline Status LastLaunchStatus(std::string_view kernel) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? OkStatus() : CudaError(e, kernel);
}

}  // namespace atom::cuda
