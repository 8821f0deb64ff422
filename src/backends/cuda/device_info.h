// What the CUDA runtime reports about the GPUs: the inputs of kernel selection (architecture,
// shared-memory limit, SM count), read from the device, never inferred from its name.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace atom::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int sm_arch = 0;                  // compute capability × 10, e.g. 90
  int sm_count = 0;
  int max_shared_memory_per_block_optin = 0;  // bytes (cudaDevAttrMaxSharedMemoryPerBlockOptin)
  size_t total_memory = 0;          // bytes
  // __CUDA_ARCH__ of the kernel image the runtime picked for this device from our fat binary
  // (e.g. 900 for the sm_90a build on an H100, 800 for the portable one).
  int loaded_image_arch = 0;
};

// Every visible GPU. An error (not a crash) when the driver or runtime is unusable; an empty
// list when there is no GPU.
StatusOr<std::vector<DeviceInfo>> QueryDevices();

// A one-line description for logs: "cuda:0 NVIDIA H100 80GB HBM3, sm_90, 132 SMs, ...".
std::string Describe(const DeviceInfo& d);

}  // namespace atom::cuda
