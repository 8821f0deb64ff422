// One MoE layer's experts uploaded to the GPU once, at load, in the layout the MoE kernels read
// (moe.h, moe_mxfp4_layout.cuh). Host code (C++20: it reads ops::ExpertWeights).
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/device_buffer.h"
#include "backends/cuda/moe.h"
#include "core/status.h"
#include "ops/op_signatures.h"

namespace atom::cuda {

class MoeExpertsOnDevice {
 public:
  // The view the launchers take; valid while this object lives.
  const MoeDeviceExperts& view() const { return view_; }
  // Device bytes held (codes, scales, biases; or the bf16 matrices).
  size_t device_bytes() const;

 private:
  friend StatusOr<MoeExpertsOnDevice> UploadMoeExperts(const ops::ExpertWeights&, cudaStream_t);
  DeviceBuffer gate_up_codes_, gate_up_scales_, down_codes_, down_scales_;
  DeviceBuffer gate_up_, down_, gate_up_bias_, down_bias_;
  MoeDeviceExperts view_;
};

// Copies `host` (ops::ExpertWeights viewing host memory: the checkpoint's arrays) to the device.
// MXFP4: the 4-bit codes and e8m0 scales are re-laid out on the device, one expert at a time
// through a staging buffer of one expert's checkpoint bytes; they stay 4-bit (no bf16 copy).
// bf16: the [in, out] matrices are copied as they are. Biases are copied as they are.
// Returns when the copies are done (synchronises `stream`).
StatusOr<MoeExpertsOnDevice> UploadMoeExperts(const ops::ExpertWeights& host,
                                              cudaStream_t stream = nullptr);

}  // namespace atom::cuda
