#include "backends/cuda/cuda_check.h"

namespace atom::cuda {

Status CudaError(cudaError_t error, std::string_view what) {
  return Internal("{}: {} ({})", what, cudaGetErrorString(error), cudaGetErrorName(error));
}

}  // namespace atom::cuda
