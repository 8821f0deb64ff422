// Byte-pair merging of one piece (spec §5.3): start from one part per byte; repeatedly merge the
// adjacent pair with the lowest rank, the leftmost on ties; stop when no adjacent pair has a
// rank. Both tiktoken and Hugging Face BPE are this loop and differ only in how a pair is ranked,
// so the loop is a template over
//   PairMap::Value pair(uint32_t left_start, int32_t left_id, int32_t right_id, uint32_t right_end)
// returning {rank, merged id} or {PairMap::kNoRank, -1}.
//
// Short pieces use the O(n^2) array scan (fastest for the usual few bytes); long ones a heap over a
// linked list, O(n log n), with identical results: the heap's minimum by (rank, position) is
// exactly the leftmost lowest-ranked pair.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#include "tokenizer/token_maps.h"

namespace atom::tokenizer_internal {

// Pieces up to this many bytes use the array scan.
inline constexpr size_t kSmallPieceBytes = 192;

template <typename PairFn>
void MergeSmallPiece(std::string_view piece, const int32_t* byte_ids, const PairFn& pair,
                     std::vector<int32_t>* out) {
  struct Part {
    uint32_t start;
    int32_t id;
    uint32_t rank;   // rank of (this, next); kNoRank if none
    int32_t merged;  // id of (this, next)
  };
  Part parts[kSmallPieceBytes + 1];
  const size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) {
    parts[i] = Part{static_cast<uint32_t>(i), byte_ids[static_cast<uint8_t>(piece[i])],
                    PairMap::kNoRank, -1};
  }
  parts[n] = Part{static_cast<uint32_t>(n), -1, PairMap::kNoRank, -1};  // sentinel: the end
  const auto set_pair = [&](size_t i) {                                 // REQUIRES: i + 1 < m
    const PairMap::Value v = pair(parts[i].start, parts[i].id, parts[i + 1].id, parts[i + 2].start);
    parts[i].rank = v.rank;
    parts[i].merged = v.id;
  };
  size_t m = n;
  for (size_t i = 0; i + 1 < m; ++i) set_pair(i);
  while (m > 1) {
    size_t best = 0;
    uint32_t best_rank = parts[0].rank;
    for (size_t i = 1; i + 1 < m; ++i) {
      if (parts[i].rank < best_rank) {
        best_rank = parts[i].rank;
        best = i;
      }
    }
    if (best_rank == PairMap::kNoRank) break;
    parts[best].id = parts[best].merged;
    std::memmove(&parts[best + 1], &parts[best + 2], (m - best - 1) * sizeof(Part));
    --m;
    if (best + 1 < m) {
      set_pair(best);
    } else {
      parts[best].rank = PairMap::kNoRank;
    }
    if (best > 0) set_pair(best - 1);
  }
  for (size_t i = 0; i < m; ++i) out->push_back(parts[i].id);
}

template <typename PairFn>
void MergeLargePiece(std::string_view piece, const int32_t* byte_ids, const PairFn& pair,
                     std::vector<int32_t>* out) {
  struct Node {
    int32_t id;
    int32_t prev, next;  // -1 = none
    uint32_t rank;       // rank of (this, next)
    int32_t merged;
    uint32_t version;  // bumped whenever (this, next) changes; stale heap entries differ
  };
  struct Candidate {
    uint32_t rank;
    uint32_t pos;  // node index = start byte, so smaller = further left
    uint32_t version;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Node> nodes;
  thread_local std::vector<Candidate> heap;  // a min-heap under std::greater
  const int32_t n = static_cast<int32_t>(piece.size());
  nodes.resize(n);
  heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    nodes[i] = Node{byte_ids[static_cast<uint8_t>(piece[i])],
                    i - 1,
                    i + 1 < n ? i + 1 : -1,
                    PairMap::kNoRank,
                    -1,
                    0};
  }
  const auto update = [&](int32_t i) {  // recomputes (i, next) and queues it
    Node& node = nodes[i];
    ++node.version;
    node.rank = PairMap::kNoRank;
    if (node.next < 0) return;
    const Node& right = nodes[node.next];
    const uint32_t end = right.next < 0 ? static_cast<uint32_t>(n) : right.next;
    const PairMap::Value v = pair(static_cast<uint32_t>(i), node.id, right.id, end);
    node.rank = v.rank;
    node.merged = v.id;
    if (v.rank != PairMap::kNoRank) {
      heap.push_back({v.rank, static_cast<uint32_t>(i), node.version});
      std::push_heap(heap.begin(), heap.end(), std::greater<Candidate>());
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) update(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Candidate>());
    const Candidate c = heap.back();
    heap.pop_back();
    Node& node = nodes[c.pos];
    if (node.version != c.version || node.rank != c.rank) continue;  // stale
    Node& right = nodes[node.next];
    node.id = node.merged;
    ++right.version;  // invalidates the removed node's own entry
    node.next = right.next;
    if (right.next >= 0) nodes[right.next].prev = static_cast<int32_t>(c.pos);
    update(static_cast<int32_t>(c.pos));
    if (node.prev >= 0) update(node.prev);
  }
  for (int32_t i = 0; i >= 0; i = nodes[i].next) out->push_back(nodes[i].id);
}

}  // namespace atom::tokenizer_internal
