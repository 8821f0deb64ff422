#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace atom {

std::string DeviceName(Device d) {
  return d.type == DeviceType::kCpu ? std::string("cpu") : fmt::format("cuda:{}", d.index);
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  ATOM_CHECK(dims.size() <= kMaxDims);
  for (int64_t d : dims) dims_[ndim_++] = d;
}

Shape::Shape(const std::vector<int64_t>& dims) {
  ATOM_CHECK(dims.size() <= kMaxDims);
  for (int64_t d : dims) dims_[ndim_++] = d;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::ToString() const { return fmt::format("[{}]", fmt::join(ToVector(), ", ")); }

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

Tensor::Tensor(void* data, DType dtype, Shape shape, Device device)
    : data_(data), dtype_(dtype), shape_(shape), device_(device) {
  int64_t s = 1;
  for (int i = shape_.ndim() - 1; i >= 0; --i) {
    strides_[i] = s;
    s *= shape_[i];
  }
}

bool Tensor::is_contiguous() const {
  int64_t s = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != s) return false;
    s *= shape_[i];
  }
  return true;
}

uint64_t Tensor::nbytes() const { return uint64_t(numel()) * DTypeBits(dtype_) / 8; }

Tensor Tensor::Rows(int64_t begin, int64_t end) const {
  ATOM_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= dim(0));
  ATOM_CHECK(DTypeBits(dtype_) % 8 == 0);
  Tensor t = *this;
  t.data_ = static_cast<char*>(data_) + begin * strides_[0] * (DTypeBits(dtype_) / 8);
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::Reshape(Shape shape) const {
  ATOM_CHECK(is_contiguous() && shape.numel() == numel());
  return Tensor(data_, dtype_, shape, device_);
}

std::string Tensor::ToString() const {
  return fmt::format("{}{} {}", DTypeName(dtype_), shape_.ToString(), DeviceName(device_));
}

Buffer::Buffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const size_t rounded = (bytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded);
  if (data_ == nullptr) throw std::bad_alloc();
}

Buffer::~Buffer() { std::free(data_); }

Buffer::Buffer(Buffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Tensor Buffer::View(DType dtype, Shape shape) const {
  ATOM_CHECK(uint64_t(shape.numel()) * DTypeBits(dtype) / 8 <= bytes_);
  return Tensor(data_, dtype, shape);
}

HostTensor::HostTensor(DType dtype, Shape shape)
    : buffer_((uint64_t(shape.numel()) * DTypeBits(dtype) + 7) / 8),
      view_(buffer_.View(dtype, shape)) {}

}  // namespace atom
