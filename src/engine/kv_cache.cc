#include "engine/kv_cache.h"

#include <cstring>

#if ATOM_WITH_CUDA
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_buffer.h"
#endif

namespace atom {

namespace {

// `bytes` of memory on `device`, owned by the returned pointer. Host memory is left untouched,
// so pages are committed only as blocks are first written (a 4 GiB pool costs nothing until
// used); kernels read only slots written before. Device memory is zeroed: padded rows of a
// decode graph read slot 0 of block 0, which must hold finite values.
StatusOr<std::shared_ptr<void>> Allocate(Device device, uint64_t bytes) {
  if (device.type == DeviceType::kCpu) {
    auto buffer = std::make_shared<Buffer>(bytes);
    return std::shared_ptr<void>(buffer, buffer->data());
  }
#if ATOM_WITH_CUDA
  ATOM_ASSIGN_OR_RETURN(cuda::DeviceBuffer b, cuda::DeviceBuffer::Allocate(bytes));
  ATOM_CUDA_RETURN_IF_ERROR(cudaMemset(b.data(), 0, bytes));
  auto buffer = std::make_shared<cuda::DeviceBuffer>(std::move(b));
  return std::shared_ptr<void>(buffer, buffer->data());
#else
  return Unimplemented("KV cache on {}: this build has no CUDA backend", DeviceName(device));
#endif
}

}  // namespace

uint64_t KvCache::BlockBytes(const KvCacheSpec& spec, int block_size) {
  return uint64_t(2) * spec.num_layers * block_size * spec.num_kv_heads * spec.head_dim *
         DTypeBits(spec.dtype) / 8;
}

StatusOr<KvCache> KvCache::Create(const KvCacheSpec& spec, int num_blocks, int block_size) {
  if (num_blocks <= 0 || block_size <= 0)
    return InvalidArgument("KV cache: {} blocks of {} tokens", num_blocks, block_size);
  KvCache cache;
  cache.device_ = spec.device;
  cache.num_blocks_ = num_blocks;
  cache.block_size_ = block_size;
  const Shape shape{num_blocks, block_size, spec.num_kv_heads, spec.head_dim};
  cache.pool_block_bytes_ =
      uint64_t(block_size) * spec.num_kv_heads * spec.head_dim * DTypeBits(spec.dtype) / 8;
  const uint64_t bytes = cache.pool_block_bytes_ * uint64_t(num_blocks);
  for (int l = 0; l < spec.num_layers; ++l) {
    for (auto* pool : {&cache.view_.key, &cache.view_.value}) {
      ATOM_ASSIGN_OR_RETURN(std::shared_ptr<void> memory, Allocate(spec.device, bytes));
      pool->push_back(Tensor(memory.get(), spec.dtype, shape, spec.device));
      cache.memory_.push_back(std::move(memory));
    }
  }
  return cache;
}

Status KvCache::CopyBlock(int32_t src, int32_t dst) {
  for (const std::vector<Tensor>* pools : {&view_.key, &view_.value}) {
    for (const Tensor& pool : *pools) {
      auto* base = static_cast<uint8_t*>(pool.data());
      uint8_t* to = base + uint64_t(dst) * pool_block_bytes_;
      const uint8_t* from = base + uint64_t(src) * pool_block_bytes_;
      if (device_.type == DeviceType::kCpu) {
        std::memcpy(to, from, pool_block_bytes_);
        continue;
      }
#if ATOM_WITH_CUDA
      ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(to, from, pool_block_bytes_, cudaMemcpyDeviceToDevice));
#endif
    }
  }
  return OkStatus();
}

}  // namespace atom
