#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "tokenizer/bpe_merge.h"

namespace atom::tokenizer_internal {
namespace {

// Ids index dense tables; a larger one is a mistake, not a vocabulary.
constexpr int32_t kMaxSpecialId = 1 << 24;

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> BpeTokenizer::Create(BpeSpec spec) {
  ATOM_ASSIGN_OR_RETURN(Pretokenizer pretokenizer, Pretokenizer::Create(spec.pattern));
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer(std::move(pretokenizer)));
  t->table_ = std::move(spec.table);
  t->use_merges_ = spec.use_merges;
  t->whole_piece_lookup_ = spec.whole_piece_lookup;

  // Special tokens: their own ids, outside the ordinary ones.
  for (const SpecialToken& s : spec.specials) {
    if (s.text.empty()) return InvalidArgument("{}: special token {} is empty", spec.source, s.id);
    if (s.id < 0 || s.id >= kMaxSpecialId) {
      return InvalidArgument("{}: special token {} has id {}, outside [0, {})", spec.source, s.text,
                             s.id, kMaxSpecialId);
    }
    if (s.id < t->table_.size() && t->table_.Has(s.id)) {
      return InvalidArgument("{}: special token {} has id {}, which is already the token {:?}",
                             spec.source, s.text, s.id, t->table_.Get(s.id));
    }
    if (!t->special_ids_.emplace(s.text, s.id).second) {
      return InvalidArgument("{}: special token {} appears twice", spec.source, s.text);
    }
    t->table_.Set(s.id, s.text);
  }
  t->is_special_.assign(t->table_.size(), 0);
  for (const SpecialToken& s : spec.specials) {
    t->is_special_[s.id] = 1;
    t->special_first_byte_[static_cast<uint8_t>(s.text[0])] = true;
    t->special_lengths_.push_back(s.text.size());
  }
  std::sort(t->special_lengths_.begin(), t->special_lengths_.end(), std::greater<>());
  t->special_lengths_.erase(std::unique(t->special_lengths_.begin(), t->special_lengths_.end()),
                            t->special_lengths_.end());

  for (int32_t id : spec.ordinary) {
    if (t->table_.Get(id).empty()) return InvalidArgument("{}: token {} is empty", spec.source, id);
  }
  const int32_t duplicate = t->bytes_to_id_.Build(t->table_, spec.ordinary);
  if (duplicate != BytesToIdMap::kNone) {
    return InvalidArgument("{}: token {} has the same bytes as token {}", spec.source, duplicate,
                           t->bytes_to_id_.Find(t->table_.Get(duplicate)));
  }
  // Byte-level BPE: every byte must be a token, so that any input can be encoded.
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    t->byte_ids_[b] = t->bytes_to_id_.Find(std::string_view(&c, 1));
    if (t->byte_ids_[b] < 0) {
      return InvalidArgument("{}: no token for the single byte 0x{:02x}", spec.source, b);
    }
  }
  if (spec.use_merges) {
    t->merges_.Reserve(spec.merges.size());
    for (size_t i = 0; i < spec.merges.size(); ++i) {
      const BpeMerge& m = spec.merges[i];
      // A later duplicate of a rule can never fire (the earlier one ranks lower); HF keeps the
      // first as well.
      t->merges_.Insert(m.left, m.right, {static_cast<uint32_t>(i), m.result});
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  if (whole_piece_lookup_) {
    const int32_t id = bytes_to_id_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  if (use_merges_) {
    const auto pair = [this](uint32_t, int32_t left, int32_t right, uint32_t) {
      return merges_.Find(left, right);
    };
    if (piece.size() <= kSmallPieceBytes) {
      MergeSmallPiece(piece, byte_ids_.data(), pair, out);
    } else {
      MergeLargePiece(piece, byte_ids_.data(), pair, out);
    }
  } else {
    const auto pair = [this, piece](uint32_t start, int32_t, int32_t, uint32_t end) {
      const int32_t id = bytes_to_id_.Find(piece.substr(start, end - start));
      return id < 0 ? PairMap::Value{PairMap::kNoRank, -1}
                    : PairMap::Value{static_cast<uint32_t>(id), id};
    };
    if (piece.size() <= kSmallPieceBytes) {
      MergeSmallPiece(piece, byte_ids_.data(), pair, out);
    } else {
      MergeLargePiece(piece, byte_ids_.data(), pair, out);
    }
  }
}

void BpeTokenizer::EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const {
  pretokenizer_.ForEachPiece(text, [&](std::string_view piece) { EncodePiece(piece, out); });
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  EncodeOrdinary(text, &ids);
  return ids;
}

std::pair<size_t, int32_t> BpeTokenizer::FindSpecial(std::string_view text, size_t from) const {
  if (special_lengths_.empty()) return {std::string_view::npos, -1};
  for (size_t pos = from; pos < text.size(); ++pos) {
    if (!special_first_byte_[static_cast<uint8_t>(text[pos])]) continue;
    for (size_t len : special_lengths_) {
      if (len > text.size() - pos) continue;
      const auto it = special_ids_.find(text.substr(pos, len));
      if (it != special_ids_.end()) return {pos, it->second};
    }
  }
  return {std::string_view::npos, -1};
}

std::vector<int32_t> BpeTokenizer::EncodeWithSpecial(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  size_t pos = 0;
  while (pos < text.size()) {
    const auto [at, id] = FindSpecial(text, pos);
    if (id < 0) break;
    EncodeOrdinary(text.substr(pos, at - pos), &ids);
    ids.push_back(id);
    pos = at + table_.Get(id).size();
  }
  EncodeOrdinary(text.substr(pos), &ids);
  return ids;
}

StatusOr<std::string> BpeTokenizer::Decode(std::span<const int32_t> ids) const {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size()) {
      return InvalidArgument("token id {} at position {} is outside [0, {})", id, i, vocab_size());
    }
    const std::string_view token = table_.Get(id);
    if (token.empty()) return InvalidArgument("token id {} at position {} is unused", id, i);
    bytes.append(token);
  }
  return bytes;
}

std::optional<int32_t> BpeTokenizer::SpecialTokenId(std::string_view text) const {
  const auto it = special_ids_.find(text);
  if (it == special_ids_.end()) return std::nullopt;
  return it->second;
}

}  // namespace atom::tokenizer_internal
