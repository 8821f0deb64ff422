#include "tokenizer/read_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace atom::tokenizer_internal {

StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (f == nullptr) return NotFound("cannot open {}: {}", path, std::strerror(errno));
  std::string bytes;
  if (std::fseek(f.get(), 0, SEEK_END) == 0) {
    const long size = std::ftell(f.get());
    if (size > 0) bytes.reserve(static_cast<size_t>(size));
    std::rewind(f.get());
  }
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f.get())) > 0) bytes.append(buffer, n);
  if (std::ferror(f.get())) return DataLoss("{}: read error: {}", path, std::strerror(errno));
  return bytes;
}

}  // namespace atom::tokenizer_internal
