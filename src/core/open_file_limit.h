// Raising the open-file limit: a server or load generator with 1024+ sockets needs more than the
// usual soft limit of 1024 descriptors.
#pragma once

#include <cstdint>

namespace atom {

// Raises this process's soft RLIMIT_NOFILE to its hard limit. Returns the soft limit in effect
// afterwards (unchanged, with a warning logged, when raising fails).
uint64_t RaiseOpenFileLimit();

}  // namespace atom
