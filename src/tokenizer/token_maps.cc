#include "tokenizer/token_maps.h"

#include <algorithm>
#include <bit>

namespace atom::tokenizer_internal {

void TokenTable::Set(int32_t id, std::string_view bytes) {
  if (static_cast<size_t>(id) >= entries_.size()) entries_.resize(static_cast<size_t>(id) + 1);
  entries_[id] = Entry{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(bytes.size())};
  arena_.append(bytes);
}

int32_t BytesToIdMap::Build(const TokenTable& table, const std::vector<int32_t>& ids) {
  table_ = &table;
  // Load factor <= 1/2 keeps linear probes short.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, ids.size() * 2));
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (int32_t id : ids) {
    const std::string_view bytes = table.Get(id);
    const uint64_t h = HashBytes(bytes);
    const uint64_t key = SlotKey(bytes, h);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id_plus_1 == 0) break;
      if (s.key == key && s.length == bytes.size() && table.Get(s.id_plus_1 - 1) == bytes) {
        return id;
      }
    }
    slots_[i] = Slot{key, static_cast<uint32_t>(bytes.size()), id + 1};
  }
  return kNone;
}

void PairMap::Reserve(size_t n) {
  if (n * 2 <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, n * 2));
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  size_ = 0;
  for (const Slot& s : old) {
    if (s.value.rank != kNoRank) {
      Insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu), s.value);
    }
  }
}

void PairMap::Grow() { Reserve(std::max<size_t>(16, slots_.size())); }

bool PairMap::Insert(int32_t left, int32_t right, Value value) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  const uint64_t key = Key(left, right);
  size_t i = Hash(key) & mask_;
  for (;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.value.rank == kNoRank) break;
    if (s.key == key) return false;
  }
  slots_[i] = Slot{key, value};
  ++size_;
  return true;
}

}  // namespace atom::tokenizer_internal
