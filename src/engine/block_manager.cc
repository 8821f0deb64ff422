#include "engine/block_manager.h"

#include <algorithm>

#define XXH_INLINE_ALL  // header-only: no library to link
#include <xxhash.h>

#include "core/check.h"

namespace atom {

BlockManager::BlockManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : block_size_(block_size),
      prefix_caching_(enable_prefix_caching),
      ref_count_(num_blocks, 0),
      block_hash_(num_blocks, 0),
      has_hash_(num_blocks, 0),
      prev_(num_blocks, kNone),
      next_(num_blocks, kNone) {
  ATOM_CHECK(num_blocks > 0 && block_size > 0);
  for (int32_t b = 0; b < num_blocks; ++b) PushBack(b);
}

uint64_t BlockManager::HashBlock(uint64_t previous, std::span<const int32_t> tokens) {
  return XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), previous);
}

int32_t BlockManager::Lookup(uint64_t hash) const {
  auto it = cached_.find(hash);
  return it == cached_.end() ? kNone : it->second;
}

std::vector<BlockManager::CacheHit> BlockManager::FindCachedPrefix(
    std::span<const int32_t> prompt) const {
  std::vector<CacheHit> hits;
  if (!prefix_caching_ || prompt.empty()) return hits;
  const int64_t max_blocks = int64_t(prompt.size() - 1) / block_size_;
  uint64_t hash = 0;
  for (int64_t b = 0; b < max_blocks; ++b) {
    hash = HashBlock(hash, prompt.subspan(b * block_size_, block_size_));
    const int32_t block = Lookup(hash);
    if (block == kNone) break;
    hits.push_back({block, hash});
  }
  return hits;
}

int BlockManager::CachedPrefixTokens(std::span<const int32_t> prompt) const {
  return int(FindCachedPrefix(prompt).size()) * block_size_;
}

bool BlockManager::CanAllocate(std::span<const int32_t> prompt, int64_t num_tokens) const {
  const std::vector<CacheHit> hits = FindCachedPrefix(prompt);
  // A cached block that is currently free still comes out of the free pool when reused.
  int reused_free = 0;
  for (const CacheHit& h : hits) reused_free += ref_count_[h.block] == 0;
  return BlocksFor(num_tokens) - int(hits.size()) + reused_free <= num_free_;
}

int BlockManager::Allocate(std::span<const int32_t> prompt, int64_t num_tokens, BlockTable* table) {
  ATOM_CHECK(table->blocks.empty() && CanAllocate(prompt, num_tokens));
  const std::vector<CacheHit> hits = FindCachedPrefix(prompt);
  ATOM_CHECK(num_tokens >= int64_t(hits.size()) * block_size_);
  for (const CacheHit& h : hits) {
    Reference(h.block);
    table->blocks.push_back(h.block);
    table->hashes.push_back(h.hash);
  }
  const int cached_tokens = int(hits.size()) * block_size_;
  if (prefix_caching_) {
    stats_.queries += int64_t(prompt.size() - 1) / block_size_ * block_size_;
    stats_.hits += cached_tokens;
  }
  Grow(table, num_tokens);
  return cached_tokens;
}

bool BlockManager::CanGrow(const BlockTable& table, int64_t num_tokens) const {
  return BlocksFor(num_tokens) - int(table.blocks.size()) <= num_free_;
}

void BlockManager::Grow(BlockTable* table, int64_t num_tokens) {
  ATOM_CHECK(CanGrow(*table, num_tokens));
  while (int(table->blocks.size()) < BlocksFor(num_tokens)) {
    const int32_t block = TakeFreeBlock();
    Reference(block);
    table->blocks.push_back(block);
  }
}

void BlockManager::CommitComputed(BlockTable* table, std::span<const int32_t> tokens,
                                  int64_t num_computed) {
  if (!prefix_caching_) return;
  const int64_t full = std::min<int64_t>(num_computed, int64_t(tokens.size())) / block_size_;
  ATOM_CHECK(full <= int64_t(table->blocks.size()));
  for (int64_t b = int64_t(table->hashes.size()); b < full; ++b) {
    const uint64_t previous = b == 0 ? 0 : table->hashes[b - 1];
    const uint64_t hash = HashBlock(previous, tokens.subspan(b * block_size_, block_size_));
    table->hashes.push_back(hash);
    const int32_t block = table->blocks[b];
    // First writer wins: an identical block computed by another sequence stays the cached one.
    if (Lookup(hash) != kNone || has_hash_[block]) continue;
    block_hash_[block] = hash;
    has_hash_[block] = 1;
    cached_[hash] = block;
  }
}

bool BlockManager::CanFork(const BlockTable& parent, int64_t parent_tokens) const {
  return parent_tokens % block_size_ == 0 || num_free_ >= 1;
}

std::pair<int32_t, int32_t> BlockManager::Fork(const BlockTable& parent, int64_t parent_tokens,
                                               BlockTable* child) {
  ATOM_CHECK(child->blocks.empty() && CanFork(parent, parent_tokens));
  const int64_t full = parent_tokens / block_size_;
  for (int64_t b = 0; b < full; ++b) {
    Reference(parent.blocks[b]);
    child->blocks.push_back(parent.blocks[b]);
  }
  child->hashes.assign(parent.hashes.begin(),
                       parent.hashes.begin() + std::min<int64_t>(full, parent.hashes.size()));
  if (parent_tokens % block_size_ == 0) return {kNone, kNone};
  const int32_t copy = TakeFreeBlock();
  Reference(copy);
  child->blocks.push_back(copy);
  return {parent.blocks[full], copy};
}

void BlockManager::Free(BlockTable* table) {
  for (auto it = table->blocks.rbegin(); it != table->blocks.rend(); ++it) Release(*it);
  table->blocks.clear();
  table->hashes.clear();
}

int32_t BlockManager::TakeFreeBlock() {
  ATOM_CHECK(head_ != kNone);
  const int32_t block = head_;
  if (has_hash_[block]) {
    auto it = cached_.find(block_hash_[block]);
    if (it != cached_.end() && it->second == block) cached_.erase(it);
    has_hash_[block] = 0;
  }
  return block;
}

void BlockManager::Reference(int32_t block) {
  if (ref_count_[block]++ == 0) Unlink(block);
}

void BlockManager::Release(int32_t block) {
  ATOM_CHECK(ref_count_[block] > 0);
  if (--ref_count_[block] == 0) PushBack(block);
}

void BlockManager::Unlink(int32_t block) {
  const int32_t p = prev_[block], n = next_[block];
  (p == kNone ? head_ : next_[p]) = n;
  (n == kNone ? tail_ : prev_[n]) = p;
  prev_[block] = next_[block] = kNone;
  --num_free_;
}

void BlockManager::PushBack(int32_t block) {
  prev_[block] = tail_;
  next_[block] = kNone;
  (tail_ == kNone ? head_ : next_[tail_]) = block;
  tail_ = block;
  ++num_free_;
}

}  // namespace atom
