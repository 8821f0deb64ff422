// Tensor: a non-owning, strided view of memory on one device. Buffer: owned host memory.
//
// A Tensor never frees what it points at; whoever made the memory (a Buffer, an mmap'd
// checkpoint, a device allocator) must outlive every view of it. Strides count elements, not
// bytes. Packed fp4 tensors are only ever viewed whole and contiguous.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"

namespace atom {

enum class DeviceType : uint8_t { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;
  static Device Cpu() { return {DeviceType::kCpu, 0}; }
  bool operator==(const Device&) const = default;
};
std::string DeviceName(Device d);  // "cpu", "cuda:0"

inline constexpr int kMaxDims = 6;

// Up to kMaxDims extents.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  int64_t numel() const;
  std::vector<int64_t> ToVector() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  std::string ToString() const;  // "[4, 96]"
  bool operator==(const Shape& o) const;

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // A contiguous (row-major) view of `data`.
  Tensor(void* data, DType dtype, Shape shape, Device device = Device::Cpu());

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const { return static_cast<T*>(data_); }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t stride(int i) const { return strides_[i < 0 ? i + ndim() : i]; }
  int64_t numel() const { return shape_.numel(); }
  Device device() const { return device_; }
  bool defined() const { return data_ != nullptr; }
  bool is_contiguous() const;
  // Bytes spanned by a contiguous tensor.
  uint64_t nbytes() const;

  // Rows [begin, end) of dimension 0, sharing memory. REQUIRES: 0 <= begin <= end <= dim(0).
  Tensor Rows(int64_t begin, int64_t end) const;
  // The same memory with another shape. REQUIRES: contiguous and equal element counts.
  Tensor Reshape(Shape shape) const;

  std::string ToString() const;  // "bf16[4, 96] cpu"

 private:
  void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::array<int64_t, kMaxDims> strides_{};
  Device device_;
};

// Owned, 64-byte aligned host memory. Move-only.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t bytes);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  // A contiguous view of the first shape.numel() elements. REQUIRES: they fit.
  Tensor View(DType dtype, Shape shape) const;

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A Buffer that owns a tensor of the given shape, for activations and tests.
class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, Shape shape);
  const Tensor& tensor() const { return view_; }
  operator const Tensor&() const { return view_; }  // NOLINT: a HostTensor is used as its view
  template <typename T>
  T* data() const { return view_.data_as<T>(); }
  int64_t numel() const { return view_.numel(); }

 private:
  Buffer buffer_;
  Tensor view_;
};

}  // namespace atom
