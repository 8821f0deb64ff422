#include "backends/cuda/device_buffer.h"

#include <utility>

#include "backends/cuda/cuda_check.h"

namespace atom::cuda {

StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&b.device_));
  if (cudaError_t e = cudaMalloc(&b.data_, bytes); e != cudaSuccess) {
    cudaGetLastError();  // an out-of-memory error is not sticky; clear it
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    return ResourceExhausted("cudaMalloc of {} bytes on cuda:{} failed: {} ({} of {} bytes free)",
                             bytes, b.device_, cudaGetErrorString(e), free, total);
  }
  b.size_ = bytes;
  return b;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(other.device_) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    device_ = other.device_;
  }
  return *this;
}

Tensor DeviceBuffer::View(DType dtype, Shape shape) const {
  Tensor t(data_, dtype, shape, Device{DeviceType::kCuda, device_});
  ATOM_CHECK_MSG(t.nbytes() <= size_, "view {} does not fit a buffer of {} bytes", t.ToString(),
                 size_);
  return t;
}

namespace {

Status Copy(const Tensor& from, const Tensor& to, cudaMemcpyKind kind, cudaStream_t stream) {
  if (from.dtype() != to.dtype() || from.numel() != to.numel() || !from.is_contiguous() ||
      !to.is_contiguous())
    return InvalidArgument("copy from {} to {}: dtype, size or layout differ", from.ToString(),
                           to.ToString());
  if (stream == nullptr) {
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(to.data(), from.data(), from.nbytes(), kind));
  } else {
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(to.data(), from.data(), from.nbytes(), kind, stream));
  }
  return OkStatus();
}

}  // namespace

StatusOr<DeviceMemory> CurrentDeviceMemory() {
  DeviceMemory m;
  ATOM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&m.free, &m.total));
  return m;
}

Status CopyToDevice(const Tensor& host, const Tensor& device, cudaStream_t stream) {
  return Copy(host, device, cudaMemcpyHostToDevice, stream);
}

Status CopyToHost(const Tensor& device, const Tensor& host, cudaStream_t stream) {
  return Copy(device, host, cudaMemcpyDeviceToHost, stream);
}

}  // namespace atom::cuda
