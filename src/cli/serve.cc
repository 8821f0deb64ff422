// atom serve: the OpenAI-compatible server on a model (the bundled demo model by default).
#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/tokenizer_source.h"
#include "core/logging.h"
#include "core/open_file_limit.h"
#include "core/progress.h"
#include "models/registry.h"
#include "server/api_server.h"

namespace atom::cli {

namespace {

struct ServeOptions {
  std::string model_dir = DefaultModelDir();
  std::string tokenizer;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;
  std::string served_model_name;
  int io_threads = 2;
  double shutdown_grace_s = 30;
  EngineFlags engine;
};

int Fail(const Status& s) {
  ATOM_LOG_ERROR("{}", s.ToString());
  return 1;
}

int RunServe(const ServeOptions& o) {
  // SIGINT/SIGTERM are taken by sigwait below; block them before any thread starts so every
  // thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  RaiseOpenFileLimit();  // one descriptor per client connection; 1024+ clients need more

  ApiServerOptions options;
  options.http.host = o.host;
  options.http.port = o.port;
  options.http.io_threads = o.io_threads;
  options.api_key = o.api_key;
  options.served_model_name = o.served_model_name.empty()
                                  ? std::filesystem::path(o.model_dir).filename().string()
                                  : o.served_model_name;
  // Listening first: /health answers 503 while the model loads.
  auto server = ApiServer::Create(options);
  if (!server.ok()) return Fail(server.status());
  (*server)->Start();

  ATOM_LOG_INFO("loading {}", o.model_dir);
  std::optional<Progress> progress;
  auto load_options = MakeLoadOptions(o.engine);
  if (!load_options.ok()) return Fail(load_options.status());
  LoadOptions load = *load_options;
  load.prefault = true;
  load.progress = [&progress](uint64_t done, uint64_t total) {
    if (!progress) progress.emplace("loading weights", total);
    progress->Update(done);
  };
  auto model = LoadModel(o.model_dir, load);
  if (progress) progress->Finish();
  if (!model.ok()) return Fail(model.status());
  LogKernelChoices(**model);
  auto generation = LoadGenerationConfig(o.model_dir);
  if (!generation.ok()) return Fail(generation.status());
  auto tokenizer = LoadTokenizer(o.model_dir, o.tokenizer);
  if (!tokenizer.ok()) return Fail(tokenizer.status());

  EngineConfig config = MakeEngineConfig(o.engine, (*model)->config(), *generation);
  if (Status s = SizeKvCacheForDevice(o.engine, load, **model, config); !s.ok()) return Fail(s);
  auto engine = Engine::Create(**model, tokenizer->get(), config);
  if (!engine.ok()) return Fail(engine.status());
  (*engine)->Start();
  (*server)->Serve(**engine, **tokenizer);
  ATOM_LOG_INFO("serving {} on http://{}:{} ({} KV blocks of {} tokens)", options.served_model_name,
                o.host, (*server)->port(), (*engine)->config().num_kv_blocks, config.block_size);

  int signal = 0;
  sigwait(&signals, &signal);
  ATOM_LOG_INFO("{}: finishing in-flight requests (up to {} s), then exiting",
                signal == SIGTERM ? "SIGTERM" : "SIGINT", o.shutdown_grace_s);
  (*server)->SetReady(false);
  (*server)->Shutdown(std::chrono::milliseconds(int64_t(o.shutdown_grace_s * 1000)));
  (*engine)->Stop();
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
  cmd->add_option("model", o->model_dir, "Model directory (default: the bundled demo model)");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json or .tiktoken (default: the model's)");
  cmd->add_option("--host", o->host, "Address to bind (default 127.0.0.1)");
  cmd->add_option("--port", o->port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY'");
  cmd->add_option("--served-model-name", o->served_model_name,
                  "Model name in the API (default: the model folder's name)");
  cmd->add_option("--io-threads", o->io_threads, "HTTP I/O threads")->check(CLI::Range(1, 64));
  cmd->add_option("--shutdown-grace", o->shutdown_grace_s,
                  "Seconds in-flight requests get to finish on SIGTERM");
  AddEngineFlags(cmd, o->engine);
  cmd->callback([o, &exit_code] { exit_code = RunServe(*o); });
}

}  // namespace atom::cli
