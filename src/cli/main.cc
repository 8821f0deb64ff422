// atom: the command-line entry point.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/logging.h"

int main(int argc, char** argv) {
  CLI::App app{"atom.cpp: LLM inference engine for gpt-oss"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug | info | warn | error | off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
  app.parse_complete_callback([&] { atom::InitLogging(atom::ParseLogLevel(log_level)); });

  int exit_code = 0;
  atom::cli::AddInfoCommand(app, exit_code);
  atom::cli::AddGenerateCommand(app, exit_code);
  atom::cli::AddTokenizeCommands(app, exit_code);
  atom::cli::AddRenderCommand(app, exit_code);
  atom::cli::AddServeCommand(app, exit_code);
  atom::cli::AddSynthCommand(app, exit_code);
  atom::cli::AddBenchCommand(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
