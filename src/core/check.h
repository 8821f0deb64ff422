// ATOM_CHECK: internal invariants only (a bug in atom.cpp, never bad user input, which gets a
// Status). A failed check logs the condition and location and aborts.
#pragma once

#include <fmt/format.h>

namespace atom::detail {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const std::string& message);
}  // namespace atom::detail

#define ATOM_CHECK(cond)                                                      \
  do {                                                                        \
    if (!(cond)) [[unlikely]]                                                 \
      ::atom::detail::CheckFailed(__FILE__, __LINE__, #cond, std::string()); \
  } while (0)

#define ATOM_CHECK_MSG(cond, ...)                                          \
  do {                                                                     \
    if (!(cond)) [[unlikely]]                                              \
      ::atom::detail::CheckFailed(__FILE__, __LINE__, #cond,               \
                                  ::fmt::format(__VA_ARGS__));             \
  } while (0)
