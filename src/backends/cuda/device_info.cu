#include "backends/cuda/device_info.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "backends/cuda/cuda_check.h"

namespace atom::cuda {

namespace {

// Reports which architecture's code the runtime loaded for this device.
__global__ void LoadedArchKernel(int* out) {
#ifdef __CUDA_ARCH__
  *out = __CUDA_ARCH__;
#endif
}

}  // namespace

StatusOr<std::vector<DeviceInfo>> QueryDevices() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();  // clear the sticky error
    return std::vector<DeviceInfo>{};
  }
  if (e != cudaSuccess) return CudaError(e, "cudaGetDeviceCount");
  std::vector<DeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if ((e = cudaGetDeviceProperties(&prop, i)) != cudaSuccess)
      return CudaError(e, "cudaGetDeviceProperties");
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.sm_arch = prop.major * 10 + prop.minor;
    d.sm_count = prop.multiProcessorCount;
    d.total_memory = prop.totalGlobalMem;
    if ((e = cudaDeviceGetAttribute(&d.max_shared_memory_per_block_optin,
                                    cudaDevAttrMaxSharedMemoryPerBlockOptin, i)) != cudaSuccess)
      return CudaError(e, "cudaDeviceGetAttribute");
    if ((e = cudaSetDevice(i)) != cudaSuccess) return CudaError(e, "cudaSetDevice");
    int* arch = nullptr;
    if ((e = cudaMalloc(&arch, sizeof(int))) != cudaSuccess) return CudaError(e, "cudaMalloc");
    LoadedArchKernel<<<1, 1>>>(arch);
    e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaMemcpy(&d.loaded_image_arch, arch, sizeof(int),
                                         cudaMemcpyDeviceToHost);
    cudaFree(arch);
    if (e != cudaSuccess) return CudaError(e, "probing the loaded kernel image");
    devices.push_back(d);
  }
  return devices;
}

std::string Describe(const DeviceInfo& d) {
  return fmt::format("cuda:{} {}, sm_{}, {} SMs, {} KiB shared memory per block, {:.1f} GiB, "
                     "running sm_{} code",
                     d.index, d.name, d.sm_arch, d.sm_count,
                     d.max_shared_memory_per_block_optin / 1024, d.total_memory / double(1 << 30),
                     d.loaded_image_arch / 10);
}

}  // namespace atom::cuda
