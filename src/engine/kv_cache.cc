#include "engine/kv_cache.h"

#include "core/check.h"

namespace atom {

uint64_t KvCache::BlockBytes(const KvCacheSpec& spec, int block_size) {
  return uint64_t(2) * spec.num_layers * block_size * spec.num_kv_heads * spec.head_dim *
         DTypeBits(spec.dtype) / 8;
}

KvCache::KvCache(const KvCacheSpec& spec, int num_blocks, int block_size)
    : num_blocks_(num_blocks), block_size_(block_size) {
  ATOM_CHECK(num_blocks > 0 && block_size > 0 && spec.dtype == DType::kF32);
  const Shape shape{num_blocks, block_size, spec.num_kv_heads, spec.head_dim};
  const uint64_t bytes = uint64_t(shape.numel()) * sizeof(float);
  for (int l = 0; l < spec.num_layers; ++l) {
    for (auto* pool : {&view_.key, &view_.value}) {
      buffers_.emplace_back(bytes);
      pool->push_back(buffers_.back().View(DType::kF32, shape));
    }
  }
}

}  // namespace atom
