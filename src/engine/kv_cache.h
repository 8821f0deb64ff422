// KvCache: the paged key/value memory of one model, where the model computes (host memory for
// the CPU backend, device memory for CUDA).
//
// Every layer has a key pool and a value pool of `num_blocks` blocks, each holding `block_size`
// token slots of [num_kv_heads, head_dim] values in the spec's dtype; slot = block * block_size +
// offset. Which sequence owns which block is the BlockManager's business. Not thread-safe: the
// engine loop owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "models/model.h"

namespace atom {

class KvCache {
 public:
  // Allocates the pools on spec.device. Errors: non-positive sizes, a device the build has no
  // backend for, or not enough memory (naming the bytes asked for).
  static StatusOr<KvCache> Create(const KvCacheSpec& spec, int num_blocks, int block_size);

  const KvCacheView& view() const { return view_; }
  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  // Bytes of one block across all layers, keys and values.
  static uint64_t BlockBytes(const KvCacheSpec& spec, int block_size);

  // Copies block `src` to block `dst` in every pool (a forked sequence's partial last block).
  Status CopyBlock(int32_t src, int32_t dst);

 private:
  KvCache() = default;

  Device device_;
  int num_blocks_ = 0;
  int block_size_ = 0;
  uint64_t pool_block_bytes_ = 0;              // one block of one pool
  std::vector<std::shared_ptr<void>> memory_;  // one allocation per pool, freed by its deleter
  KvCacheView view_;
};

}  // namespace atom
