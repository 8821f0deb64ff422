// DeviceBuffer: owned GPU memory (cudaMalloc), and copies between host and device tensors.
//
// Host code only (C++20: it speaks Tensor). Kernels (.cu files) take raw pointers and shapes,
// never Tensors, so they compile as C++17 under nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "core/status.h"
#include "core/tensor.h"

namespace atom::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // `bytes` of device memory on the current device; an error (naming the size) when the device
  // is out of memory. Zero bytes give an empty buffer.
  static StatusOr<DeviceBuffer> Allocate(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  // A contiguous view of the start of the buffer. REQUIRES: it fits.
  Tensor View(DType dtype, Shape shape) const;

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  int device_ = 0;
};

// Free and total bytes of the current device (cudaMemGetInfo).
struct DeviceMemory {
  size_t free = 0;
  size_t total = 0;
};
StatusOr<DeviceMemory> CurrentDeviceMemory();

// Copies a contiguous tensor's bytes between host and device (same dtype and element count).
// Synchronous with respect to the host when `stream` is null.
Status CopyToDevice(const Tensor& host, const Tensor& device, cudaStream_t stream = nullptr);
Status CopyToHost(const Tensor& device, const Tensor& host, cudaStream_t stream = nullptr);

}  // namespace atom::cuda
