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
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 handed out first
}

std::optional<std::vector<int32_t>> KvCache::Allocate(int n) {
  if (n < 0 || n > int(free_.size())) return std::nullopt;
  std::vector<int32_t> blocks(free_.end() - n, free_.end());
  free_.resize(free_.size() - n);
  return blocks;
}

void KvCache::Free(const std::vector<int32_t>& blocks) {
  for (int32_t b : blocks) {
    ATOM_CHECK(b >= 0 && b < num_blocks_);
    free_.push_back(b);
  }
  ATOM_CHECK(int(free_.size()) <= num_blocks_);
}

}  // namespace atom
