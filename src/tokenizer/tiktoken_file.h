// The tiktoken ranks file: one "<base64 of the token's bytes> <rank>" per line, ranks 0, 1, 2, ...
// in order (rank = id).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/bpe_tokenizer.h"

namespace atom::tokenizer_internal {

// Fills spec->table and spec->ordinary from the file's contents; `path` is for messages, which
// name it and the 1-based line.
Status ParseTiktokenRanks(std::string_view contents, const std::string& path, BpeSpec* spec);

}  // namespace atom::tokenizer_internal
