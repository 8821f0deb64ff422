// Reads a whole file into memory (the tokenizer loaders parse from one buffer).
#pragma once

#include <string>

#include "core/status.h"

namespace atom::tokenizer_internal {

// NotFound naming `path` if it cannot be opened; DataLoss if reading fails part way.
StatusOr<std::string> ReadFileBytes(const std::string& path);

}  // namespace atom::tokenizer_internal
