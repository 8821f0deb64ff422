// BlockManager: which KV-cache blocks each sequence owns, with reference counts and prefix
// caching.
//
// The cache is `num_blocks` blocks of `block_size` token slots. A sequence's BlockTable lists its
// blocks in order. With prefix caching on, every FULL block whose keys and values have been
// computed is registered under a chained hash of all tokens up to its end (xxHash3 of the
// previous block's hash and this block's token ids), and a new sequence whose prompt starts with
// the same tokens reuses those blocks instead of recomputing them. Freed blocks keep their hash
// and stay reusable until they are handed out again, least recently freed first (LRU).
//
// The manager holds no KV memory and no tensors: it decides, the model runner reads block tables.
// Every mutating call has a Can* check to make first; a mutation whose check fails is a bug
// (ATOM_CHECK). Not thread-safe: the engine loop owns it.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace atom {

struct BlockTable {
  std::vector<int32_t> blocks;
  // Chained hashes of the leading full blocks whose KV is computed and registered, one per block.
  std::vector<uint64_t> hashes;
};

struct PrefixCacheStats {
  int64_t queries = 0;  // prompt tokens looked up (full blocks only)
  int64_t hits = 0;     // of those, found in the cache
};

class BlockManager {
 public:
  // REQUIRES: num_blocks > 0, block_size > 0.
  BlockManager(int num_blocks, int block_size, bool enable_prefix_caching);

  int block_size() const { return block_size_; }
  int num_blocks() const { return int(ref_count_.size()); }
  // Blocks no sequence references (cached-but-free ones included).
  int num_free_blocks() const { return num_free_; }
  bool prefix_caching() const { return prefix_caching_; }
  const PrefixCacheStats& stats() const { return stats_; }

  // Blocks needed for `num_tokens` tokens.
  int BlocksFor(int64_t num_tokens) const {
    return int((num_tokens + block_size_ - 1) / block_size_);
  }

  // How many leading tokens of `prompt` a new sequence would find cached: whole blocks only, and
  // never the whole prompt (its last token must run to produce logits).
  int CachedPrefixTokens(std::span<const int32_t> prompt) const;

  // Whether a new sequence with this prompt can get blocks for its first `num_tokens` tokens
  // (at least its cached prefix; fewer than the prompt when prefill is chunked), counting the
  // cached blocks it would reuse.
  bool CanAllocate(std::span<const int32_t> prompt, int64_t num_tokens) const;
  // Builds the block table of a new sequence for its first `num_tokens` tokens; returns the
  // number of prompt tokens whose KV is already there (CachedPrefixTokens). REQUIRES:
  // CanAllocate, num_tokens >= CachedPrefixTokens(prompt), and `table` empty.
  int Allocate(std::span<const int32_t> prompt, int64_t num_tokens, BlockTable* table);

  // Whether the table can grow to hold `num_tokens` tokens.
  bool CanGrow(const BlockTable& table, int64_t num_tokens) const;
  // Adds blocks so the table holds `num_tokens` tokens. REQUIRES: CanGrow.
  void Grow(BlockTable* table, int64_t num_tokens);

  // Registers every full block whose KV is now computed: `tokens` are the sequence's tokens and
  // the first `num_computed` of them have their KV in the cache. No-op without prefix caching.
  void CommitComputed(BlockTable* table, std::span<const int32_t> tokens, int64_t num_computed);

  // Shares `parent`'s blocks with a new sequence (n > 1): every full block is shared; a partial
  // last block gets a fresh block whose contents the caller must copy (returned as {src, dst},
  // or {-1, -1} when the parent ends on a block boundary). REQUIRES: CanFork, `child` empty.
  bool CanFork(const BlockTable& parent, int64_t parent_tokens) const;
  std::pair<int32_t, int32_t> Fork(const BlockTable& parent, int64_t parent_tokens,
                                   BlockTable* child);

  // Releases the table's blocks (last block first, so a prompt's tail is evicted before its
  // head) and clears it.
  void Free(BlockTable* table);

 private:
  static constexpr int32_t kNone = -1;

  struct CacheHit {
    int32_t block;
    uint64_t hash;
  };
  // The cached blocks holding the leading full blocks of `prompt` (never its last token).
  std::vector<CacheHit> FindCachedPrefix(std::span<const int32_t> prompt) const;

  // Chained hash of one full block given the previous block's hash. 64 bits: a collision (odds
  // ~n²/2^64 for n cached blocks) would reuse the wrong block; accepted, as vLLM does by default.
  static uint64_t HashBlock(uint64_t previous, std::span<const int32_t> tokens);
  // The cached block registered under `hash`, or kNone.
  int32_t Lookup(uint64_t hash) const;

  int32_t TakeFreeBlock();        // least recently freed; drops its old hash
  void Reference(int32_t block);  // ref 0 -> 1 takes it off the free list
  void Release(int32_t block);    // ref 1 -> 0 puts it at the back of the free list
  void Unlink(int32_t block);
  void PushBack(int32_t block);

  int block_size_;
  bool prefix_caching_;
  std::vector<int32_t> ref_count_;
  std::vector<uint64_t> block_hash_;  // meaningful when has_hash_
  std::vector<uint8_t> has_hash_;
  std::unordered_map<uint64_t, int32_t> cached_;  // hash -> block
  // The free list, an intrusive doubly linked list in LRU order (front = next to hand out).
  std::vector<int32_t> prev_, next_;
  int32_t head_ = kNone, tail_ = kNone;
  int num_free_ = 0;
  PrefixCacheStats stats_;
};

}  // namespace atom
