// KvCache: the paged key/value memory of one model on the CPU.
//
// Every layer has a key pool and a value pool of `num_blocks` blocks, each holding `block_size`
// token slots of [num_kv_heads, head_dim] values; slot = block * block_size + offset. Which
// sequence owns which block is the BlockManager's business. Not thread-safe: the engine loop
// owns it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/model.h"

namespace atom {

class KvCache {
 public:
  // REQUIRES: num_blocks > 0, block_size > 0, spec.dtype is f32.
  KvCache(const KvCacheSpec& spec, int num_blocks, int block_size);

  const KvCacheView& view() const { return view_; }
  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  // Bytes of one block across all layers, keys and values.
  static uint64_t BlockBytes(const KvCacheSpec& spec, int block_size);

 private:
  int num_blocks_;
  int block_size_;
  std::vector<Buffer> buffers_;  // one per layer and per key/value
  KvCacheView view_;
};

}  // namespace atom
