// GPU smoke test: the runtime sees a device and runs our fat binary's kernel on it.
// Label `gpu`: runs only on a machine with a GPU (scripts/gpu-check.sh), never in CI.
#include <gtest/gtest.h>

#include "backends/cuda/device_info.h"

namespace atom::cuda {
namespace {

TEST(CudaDevice, QueryFindsAGpuAndRunsOurCode) {
  auto devices = QueryDevices();
  ASSERT_TRUE(devices.ok()) << devices.status().ToString();
  ASSERT_FALSE(devices->empty()) << "no GPU visible";
  for (const DeviceInfo& d : *devices) {
    std::printf("%s\n", Describe(d).c_str());
    EXPECT_GT(d.sm_count, 0);
    EXPECT_GT(d.max_shared_memory_per_block_optin, 48 * 1024);
    // The image loaded must be for this architecture family or the portable sm_80 one.
    EXPECT_TRUE(d.loaded_image_arch == d.sm_arch * 10 || d.loaded_image_arch == 800)
        << d.loaded_image_arch;
  }
}

}  // namespace
}  // namespace atom::cuda
