// Writes a Hugging Face tokenizer.json for a tiktoken-style byte-level BPE (spec §5): the file
// `transformers`' TikTokenConverter produces, byte for byte for o200k_harmony.
//
// The BPE model's vocab maps each token's bytes, spelled in GPT-2's byte-to-unicode alphabet, to
// its id (= rank). Merges are derived from the ranks as the converter does: for each token, every
// split into two parts that are both tokens is a merge; merges are ordered by the rank of the
// merged token, then by the ranks of the left and right parts. The pre-tokenizer is
// Sequence[Split(regex, Isolated), ByteLevel(use_regex = false)], the decoder ByteLevel, and the
// special tokens are added_tokens.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace atom {

struct HfTokenizerJsonSpec {
  std::vector<std::string> ranks;  // ranks[id]: the bytes of ordinary token `id` (rank = id)
  std::string pattern;             // the pre-tokenizer regex
  std::vector<SpecialToken> specials;
};

// The merges of `ranks` as (left id, right id) pairs, in the converter's order.
std::vector<std::pair<int32_t, int32_t>> DeriveBpeMerges(const std::vector<std::string>& ranks);

// `bytes` in GPT-2's byte-to-unicode alphabet (every byte becomes one printable code point).
std::string ByteLevelEncode(std::string_view bytes);

// The tokenizer.json text (2-space indented, no trailing newline, as Hugging Face saves it).
// InvalidArgument for an empty vocabulary, an empty or duplicate token, or a special token whose
// id is an ordinary id or repeats another's.
StatusOr<std::string> MakeHfTokenizerJson(const HfTokenizerJsonSpec& spec);

// Writes MakeHfTokenizerJson(spec) to `path` (atomically: a temporary file, then a rename).
Status WriteHfTokenizerJson(const HfTokenizerJsonSpec& spec, const std::string& path);

// The ranks of a tiktoken file ("<base64> <rank>" per line). Errors name the file and line.
StatusOr<std::vector<std::string>> ReadTiktokenRanks(const std::string& path);

// gpt-oss's tokenizer files in `dir`: tokenizer.json (o200k_harmony from the ranks file at
// `ranks_path`), tokenizer_config.json and special_tokens_map.json (as the real repository's).
Status WriteO200kHarmonyTokenizerFiles(const std::string& ranks_path, const std::string& dir);

}  // namespace atom
