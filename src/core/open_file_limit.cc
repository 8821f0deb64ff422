#include "core/open_file_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "core/logging.h"

namespace atom {

uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    ATOM_LOG_WARN("getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno));
    return 0;
  }
  if (limit.rlim_cur == limit.rlim_max) return uint64_t(limit.rlim_cur);
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    ATOM_LOG_WARN("cannot raise the open-file limit from {} to {}: {}", uint64_t(before),
                  uint64_t(limit.rlim_max), std::strerror(errno));
    return uint64_t(before);
  }
  ATOM_LOG_DEBUG("open-file limit raised from {} to {}", uint64_t(before),
                 uint64_t(limit.rlim_cur));
  return uint64_t(limit.rlim_cur);
}

}  // namespace atom
