// Tokenizer: byte-level BPE as tiktoken and Hugging Face define it (spec §5), for o200k_base /
// o200k_harmony and any tokenizer of the same family.
//
// Text is split into pieces by the model's pre-tokenizer regex (PCRE2, JIT), each piece is
// byte-pair merged by rank, and special tokens ("<|start|>") are only recognised where the caller
// allows it: Encode() treats special-token strings in the text as plain text (so a user typing
// "<|start|>" cannot inject a control token); EncodeWithSpecial() recognises them.
// Immutable after construction; all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace atom {

struct SpecialToken {
  std::string text;  // "<|start|>"
  int32_t id = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // A tiktoken ranks file ("<base64 bytes> <rank>" per line; rank = id), the pre-tokenizer
  // regex, and the special tokens. Errors name the file and line.
  static StatusOr<std::unique_ptr<Tokenizer>> FromTiktoken(const std::string& ranks_path,
                                                           const std::string& pattern,
                                                           std::vector<SpecialToken> specials);
  // o200k_harmony: the o200k_base ranks file plus gpt-oss's special tokens (spec §5.4), with ids
  // 199998..201087 (reserved ones named "<|reserved_N|>").
  static StatusOr<std::unique_ptr<Tokenizer>> O200kHarmony(const std::string& ranks_path);
  // A Hugging Face tokenizer.json with a byte-level BPE model (vocab + merges), a Split regex
  // pre-tokenizer and added_tokens. Errors name the file and the field.
  static StatusOr<std::unique_ptr<Tokenizer>> FromHfJson(const std::string& path);
  // `dir`/tokenizer.json.
  static StatusOr<std::unique_ptr<Tokenizer>> FromModelDir(const std::string& dir);

  // Ordinary text: special-token strings are encoded as the plain text they are.
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;
  // Text in which every special-token string becomes its id (leftmost first).
  virtual std::vector<int32_t> EncodeWithSpecial(std::string_view text) const = 0;

  // The bytes of `ids` concatenated (a special token gives its text). Bytes, not necessarily
  // valid UTF-8. InvalidArgument naming the position for an id outside [0, vocab_size()) or one
  // that has no bytes (an unused id).
  virtual StatusOr<std::string> Decode(std::span<const int32_t> ids) const = 0;
  // The bytes of one token; empty for an id with none. REQUIRES: 0 <= id < vocab_size().
  virtual std::string_view TokenBytes(int32_t id) const = 0;

  // The id of a special token's text, if it is one.
  virtual std::optional<int32_t> SpecialTokenId(std::string_view text) const = 0;
  virtual bool IsSpecial(int32_t id) const = 0;
  // One past the largest id (ordinary or special).
  virtual int32_t vocab_size() const = 0;
};

// Turns a stream of token ids into text that is always complete UTF-8: a token that ends inside
// a multi-byte character is held back until the following tokens complete it. Not thread-safe;
// one per stream.
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // Appends one token and returns the text that is now complete (possibly empty). An id the
  // tokenizer does not know is an error and changes nothing.
  StatusOr<std::string> Push(int32_t id);
  // Returns whatever is held back, with invalid or incomplete sequences replaced by U+FFFD.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;  // bytes not yet returned: an incomplete UTF-8 tail
};

// `bytes` as valid UTF-8, each invalid or truncated sequence replaced by U+FFFD (as Python's
// bytes.decode("utf-8", errors="replace") does).
std::string Utf8Sanitize(std::string_view bytes);

}  // namespace atom
