// The Hugging Face tokenizer.json of a byte-level BPE model (as gpt-oss ships): model.type "BPE"
// with vocab (GPT-2 byte-level strings -> id) and merges, a Sequence[Split(regex),
// ByteLevel(use_regex=false)] pre-tokenizer, no normalizer, added_tokens as the special tokens.
// Anything else is rejected with an error naming the field.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/bpe_tokenizer.h"

namespace atom::tokenizer_internal {

// Fills *spec from the file's contents; `path` is for messages.
Status ParseHfTokenizerJson(std::string_view contents, const std::string& path, BpeSpec* spec);

}  // namespace atom::tokenizer_internal
