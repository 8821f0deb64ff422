// BpeTokenizer: the one implementation of Tokenizer, for both file formats.
//
// The loaders (tiktoken_file.h, hf_tokenizer_json.h) fill a BpeSpec; Create() validates it and
// builds the lookup tables. Two ways to rank a pair of parts:
//   - ranks (tiktoken): the rank of the concatenated bytes, which is also the merged id;
//   - merges (Hugging Face): the index of the (left, right) merge rule; the merged id is
//     vocab[left + right].
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/token_maps.h"
#include "tokenizer/tokenizer.h"

namespace atom::tokenizer_internal {

struct BpeMerge {
  int32_t left = 0;
  int32_t right = 0;
  int32_t result = 0;
};

struct BpeSpec {
  std::string source;              // the file, for error messages
  TokenTable table;                // the bytes of every ordinary token (special ones are added)
  std::vector<int32_t> ordinary;   // ids of the ordinary tokens
  bool use_merges = false;         // false: tiktoken ranks (rank = id)
  std::vector<BpeMerge> merges;    // rank = index; REQUIRES use_merges
  bool whole_piece_lookup = true;  // a piece that is a token is that token (HF ignore_merges)
  std::string pattern;
  std::vector<SpecialToken> specials;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Errors name spec.source and what is inconsistent (a duplicate token, a missing byte token,
  // a special id that collides, a bad regex).
  static StatusOr<std::unique_ptr<Tokenizer>> Create(BpeSpec spec);

  std::vector<int32_t> Encode(std::string_view text) const override;
  std::vector<int32_t> EncodeWithSpecial(std::string_view text) const override;
  StatusOr<std::string> Decode(std::span<const int32_t> ids) const override;
  std::string_view TokenBytes(int32_t id) const override { return table_.Get(id); }
  std::optional<int32_t> SpecialTokenId(std::string_view text) const override;
  bool IsSpecial(int32_t id) const override {
    return id >= 0 && id < vocab_size() && is_special_[id] != 0;
  }
  int32_t vocab_size() const override { return table_.size(); }

  const Pretokenizer& pretokenizer() const { return pretokenizer_; }

 private:
  explicit BpeTokenizer(Pretokenizer pretokenizer) : pretokenizer_(std::move(pretokenizer)) {}

  // Appends the ids of ordinary text.
  void EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const;
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;
  // The leftmost special token in text[from...], the longest at that position: its offset and
  // id, or {npos, -1}.
  std::pair<size_t, int32_t> FindSpecial(std::string_view text, size_t from) const;

  Pretokenizer pretokenizer_;
  TokenTable table_;
  BytesToIdMap bytes_to_id_;  // ordinary tokens only, so Encode never yields a special id
  bool use_merges_ = false;
  bool whole_piece_lookup_ = true;
  PairMap merges_;
  std::array<int32_t, 256> byte_ids_{};
  std::vector<uint8_t> is_special_;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return HashBytes(s); }
  };
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> special_ids_;
  std::array<bool, 256> special_first_byte_{};
  std::vector<size_t> special_lengths_;  // distinct, longest first
};

}  // namespace atom::tokenizer_internal
