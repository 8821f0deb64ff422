// Whole-file reads and atomic writes, with errors that name the path.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace atom {

// The file's bytes. NotFound when it cannot be opened, DataLoss on a read error.
StatusOr<std::string> ReadFile(const std::string& path);

// Writes `bytes` to `path` + ".tmp", then renames it over `path`, so readers never see a
// partial file.
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace atom
