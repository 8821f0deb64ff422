// The lookup structures of byte-level BPE: token bytes -> id, and (for merges-based models)
// (left id, right id) -> (merge rank, merged id).
//
// Both are open-addressing tables built once and then read-only, so lookups are thread-safe and
// allocation-free. TokenTable owns every token's bytes in one arena; BytesToIdMap stores only ids
// and compares against that arena.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace atom::tokenizer_internal {

// id -> bytes for ids [0, size()); an id with no bytes is unused.
class TokenTable {
 public:
  // Sets the bytes of `id` (growing the table). REQUIRES: id >= 0 and not yet set.
  void Set(int32_t id, std::string_view bytes);
  int32_t size() const { return static_cast<int32_t>(entries_.size()); }
  std::string_view Get(int32_t id) const {
    const Entry& e = entries_[id];
    return std::string_view(arena_.data() + e.offset, e.length);
  }
  bool Has(int32_t id) const { return entries_[id].length != 0; }
  void Reserve(size_t ids, size_t bytes) {
    entries_.reserve(ids);
    arena_.reserve(bytes);
  }

 private:
  struct Entry {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  std::string arena_;
  std::vector<Entry> entries_;
};

// Byte strings of at most 8 bytes packed into one word; with the length it identifies the string
// (the two 4-byte loads overlap to cover 4..8 bytes; 1..3 bytes are first, middle, last).
// Never reads outside s.
inline uint64_t PackShort(const char* p, size_t n) {
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return (static_cast<uint64_t>(hi) << 32) | lo;
  }
  if (n == 0) return 0;
  return (static_cast<uint64_t>(static_cast<uint8_t>(p[0])) << 16) |
         (static_cast<uint64_t>(static_cast<uint8_t>(p[n / 2])) << 8) |
         static_cast<uint8_t>(p[n - 1]);
}

// A fast hash for short byte strings (tokens are a few bytes): 8-byte words folded with a
// 64x64->128-bit multiply (the wyhash/mum mixer).
inline uint64_t HashMix(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
inline constexpr uint64_t kHashSeed = 0xA0761D6478BD642Full, kHashPrime = 0xE7037ED1A0B428DBull;
inline uint64_t HashPacked(uint64_t packed, size_t n) {
  return HashMix(packed ^ kHashSeed ^ (static_cast<uint64_t>(n) << 56), kHashPrime);
}
inline uint64_t HashBytes(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  if (n <= 8) return HashPacked(PackShort(p, n), n);
  uint64_t h = kHashSeed ^ n;
  for (; n > 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = HashMix(h ^ word, kHashPrime);
  }
  return HashMix(h ^ PackShort(p, n), kHashPrime ^ kHashSeed);
}

// Bytes -> id over the ids of a TokenTable.
class BytesToIdMap {
 public:
  static constexpr int32_t kNone = -1;

  // Indexes `ids` of `table` (which must outlive the map). Returns the first id whose bytes
  // duplicate an earlier one's, or kNone.
  int32_t Build(const TokenTable& table, const std::vector<int32_t>& ids);

  int32_t Find(std::string_view bytes) const {
    const size_t n = bytes.size();
    if (n <= 8) {
      // Short keys (most tokens) compare in the slot, without touching the arena.
      const uint64_t packed = PackShort(bytes.data(), n);
      for (size_t i = HashPacked(packed, n) & mask_;; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.id_plus_1 == 0) return kNone;
        if (s.key == packed && s.length == n) return s.id_plus_1 - 1;
      }
    }
    const uint64_t h = HashBytes(bytes);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id_plus_1 == 0) return kNone;
      if (s.key == h && s.length == n && table_->Get(s.id_plus_1 - 1) == bytes) {
        return s.id_plus_1 - 1;
      }
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;  // PackShort() of a key of <= 8 bytes, else its full hash
    uint32_t length = 0;
    int32_t id_plus_1 = 0;  // 0 = empty
  };
  static uint64_t SlotKey(std::string_view bytes, uint64_t hash) {
    return bytes.size() <= 8 ? PackShort(bytes.data(), bytes.size()) : hash;
  }
  const TokenTable* table_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// (left id, right id) -> (rank, merged id) for merges-based BPE.
class PairMap {
 public:
  struct Value {
    uint32_t rank;
    int32_t id;
  };
  static constexpr uint32_t kNoRank = UINT32_MAX;

  void Reserve(size_t n);
  // Returns false if the pair is already present (the earlier entry is kept).
  bool Insert(int32_t left, int32_t right, Value value);
  Value Find(int32_t left, int32_t right) const {
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value.rank == kNoRank) return {kNoRank, -1};
      if (s.key == key) return s.value;
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    Value value{kNoRank, -1};  // rank kNoRank = empty
  };
  static uint64_t Key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static uint64_t Hash(uint64_t key) { return (key * 0x9E3779B97F4A7C15ull) >> 17; }
  void Grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace atom::tokenizer_internal
