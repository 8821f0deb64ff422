// The `atom` subcommands. Each Add*Command registers its options and a callback on `app`; the
// callback stores the process exit code in `exit_code` (0 success, 1 a reported error).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace atom::cli {

void AddInfoCommand(CLI::App& app, int& exit_code);
void AddGenerateCommand(CLI::App& app, int& exit_code);
void AddTokenizeCommands(CLI::App& app, int& exit_code);  // tokenize, detokenize
void AddRenderCommand(CLI::App& app, int& exit_code);
void AddServeCommand(CLI::App& app, int& exit_code);
void AddSynthCommand(CLI::App& app, int& exit_code);
void AddBenchCommand(CLI::App& app, int& exit_code);  // bench serve | latency | throughput
// `atom bench latency` and `atom bench throughput`, under the `bench` group.
void AddBenchLatencyCommand(CLI::App& bench, int& exit_code);
void AddBenchThroughputCommand(CLI::App& bench, int& exit_code);

// The model served when none is named: the tiny gpt-oss checkpoint bundled with the sources.
std::string DefaultModelDir();

}  // namespace atom::cli
