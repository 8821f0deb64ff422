// Logging: thin wrappers over spdlog so the rest of the code names one logger and one format.
// Logs go to stderr, so stdout stays clean for machine-readable output (--json).
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace atom {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

// Sets up the stderr logger. Safe to call more than once; the last level wins.
void InitLogging(LogLevel level);

// Parses "debug" | "info" | "warn" | "error" | "off"; unknown names give kInfo.
LogLevel ParseLogLevel(std::string_view name);

}  // namespace atom

#define ATOM_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define ATOM_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define ATOM_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define ATOM_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
