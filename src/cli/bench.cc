// atom bench: benchmarks. `atom bench serve` is a streaming load generator for any
// OpenAI-compatible server, after vLLM's benchmark_serving: random prompts of a fixed length,
// Poisson arrivals, bounded concurrency, and a report of throughput and latency percentiles.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/logging.h"
#include "core/open_file_limit.h"
#include "loadgen/latency_stats.h"
#include "loadgen/load_generator.h"

namespace atom::cli {

namespace {

struct BenchServeOptions {
  std::string url = "http://127.0.0.1:8000";
  std::string endpoint = "/v1/completions";
  std::string model;  // empty: the first id of GET /v1/models
  std::string api_key;
  int concurrency = 0;  // 0: num_prompts
  int num_prompts = 1000;
  int input_len = 1024;
  int output_len = 128;
  double request_rate = std::numeric_limits<double>::infinity();
  uint64_t seed = 0;
  std::string json_out;
  int disconnect_after = 0;
  double timeout_s = 300;
};

// Descriptors besides the sockets: stdio, the event loop's own, files.
constexpr uint64_t kSpareDescriptors = 64;
constexpr size_t kMaxErrorsShown = 5;

int Fail(const Status& s) {
  ATOM_LOG_ERROR("{}", s.ToString());
  return 1;
}

std::string RateText(double rate) { return std::isinf(rate) ? "inf" : fmt::format("{}", rate); }

// The distinct errors with how often each happened, most frequent first, at most `limit`.
std::string ErrorSummary(const std::vector<loadgen::RequestResult>& results, size_t limit) {
  std::map<std::string, int> counts;
  for (const auto& r : results)
    if (r.outcome == loadgen::RequestOutcome::kFailed) ++counts[r.error];
  std::vector<std::pair<int, std::string>> sorted;
  for (auto& [error, n] : counts) sorted.emplace_back(n, error);
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::string out;
  for (size_t i = 0; i < sorted.size() && i < limit; ++i)
    out += fmt::format("  {} x {}\n", sorted[i].first, sorted[i].second);
  if (sorted.size() > limit) out += fmt::format("  ... {} more kinds\n", sorted.size() - limit);
  return out;
}

int RunBenchServe(const BenchServeOptions& o) {
  const int concurrency = o.concurrency > 0 ? o.concurrency : o.num_prompts;
  const uint64_t fd_limit = RaiseOpenFileLimit();
  if (fd_limit < uint64_t(concurrency) + kSpareDescriptors) {
    ATOM_LOG_WARN("open-file limit {} is low for {} connections; raise it (ulimit -n)", fd_limit,
                  concurrency);
  }
  auto server = loadgen::ResolveTargetServer(o.url);
  if (!server.ok()) return Fail(server.status());
  const auto timeout = std::chrono::milliseconds(int64_t(o.timeout_s * 1000));

  loadgen::LoadOptions load;
  load.server = *server;
  load.endpoint = o.endpoint.starts_with('/') ? o.endpoint : "/" + o.endpoint;
  load.api_key = o.api_key;
  load.num_prompts = o.num_prompts;
  load.concurrency = concurrency;
  load.request_rate = o.request_rate;
  load.disconnect_after = o.disconnect_after;
  load.timeout = timeout;
  load.requests.model = o.model;
  load.requests.input_len = o.input_len;
  load.requests.output_len = o.output_len;
  load.requests.seed = o.seed;
  if (Status s = loadgen::CheckLoadOptions(load); !s.ok()) return Fail(s);
  if (load.requests.model.empty()) {
    auto model = loadgen::FetchFirstModelId(*server, o.api_key, std::chrono::seconds(30));
    if (!model.ok())
      return Fail(model.status().WithContext("finding the model to use (no --model)"));
    load.requests.model = *model;
  }

  fmt::print("Target: http://{}{}{} (model {})\n", server->HostHeader(), server->base_path,
             load.endpoint, load.requests.model);
  fmt::print("Requests: {} x {} input / {} output tokens\n", o.num_prompts, o.input_len,
             o.output_len);
  fmt::print("Traffic request rate: {}\n", RateText(o.request_rate));
  fmt::print("Maximum request concurrency: {}\n", concurrency);
  if (o.disconnect_after > 0)
    fmt::print("Disconnect after: {} content chunks\n", o.disconnect_after);
  std::fflush(stdout);

  auto run = loadgen::RunLoad(load);
  if (!run.ok()) return Fail(run.status());
  const loadgen::BenchmarkSummary summary = loadgen::Summarize(run->results, run->duration_s);
  fmt::print("{}", loadgen::FormatReport(summary));
  if (summary.failed > 0) fmt::print("Errors:\n{}", ErrorSummary(run->results, kMaxErrorsShown));
  std::fflush(stdout);

  if (!o.json_out.empty()) {
    nlohmann::json j = loadgen::ReportJson(summary, run->results);
    j["date"] = fmt::format("{}", std::time(nullptr));
    j["backend"] = "openai";
    j["base_url"] = o.url;
    j["endpoint"] = load.endpoint;
    j["model_id"] = load.requests.model;
    j["num_prompts"] = o.num_prompts;
    j["input_len"] = o.input_len;
    j["output_len"] = o.output_len;
    j["request_rate"] =
        std::isinf(o.request_rate) ? nlohmann::json("inf") : nlohmann::json(o.request_rate);
    j["max_concurrency"] = concurrency;
    j["seed"] = o.seed;
    j["disconnect_after"] = o.disconnect_after;
    std::ofstream out(o.json_out);
    out << j.dump(2) << "\n";
    if (!out) return Fail(InvalidArgument("--json-out {}: cannot write", o.json_out));
  }
  return summary.failed > 0 ? 1 : 0;
}

void AddBenchServeCommand(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<BenchServeOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "serve",
      "Streaming load against an OpenAI-compatible server (like vLLM's benchmark_serving)");
  cmd->add_option("--url", o->url, "Server base URL, http://host:port[/prefix]");
  cmd->add_option("--endpoint", o->endpoint,
                  "/v1/completions (token-id prompts) or "
                  "/v1/chat/completions (word prompts)");
  cmd->add_option("--model", o->model, "Model name (default: the first of GET /v1/models)");
  cmd->add_option("--api-key", o->api_key, "Sent as 'Authorization: Bearer KEY'");
  cmd->add_option("--concurrency", o->concurrency,
                  "Requests in flight at most (default: --num-prompts)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--num-prompts", o->num_prompts, "Requests to send")->check(CLI::PositiveNumber);
  cmd->add_option("--input-len", o->input_len, "Prompt tokens per request")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--output-len", o->output_len, "Output tokens per request (EOS ignored)")
      ->check(CLI::PositiveNumber);
  // Checked by RunLoad: CLI11's PositiveNumber would refuse "inf".
  cmd->add_option("--request-rate", o->request_rate,
                  "Requests per second, Poisson arrivals (default inf: all at once)");
  cmd->add_option("--seed", o->seed, "Seed of prompts and arrival times");
  cmd->add_option("--json-out", o->json_out, "Also write the results, per request too, as JSON");
  cmd->add_option("--disconnect-after", o->disconnect_after,
                  "Close each stream after this many content chunks (tests abort paths)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout", o->timeout_s,
                  "Seconds without data from the server that fail a request")
      ->check(CLI::PositiveNumber);
  cmd->callback([o, &exit_code] { exit_code = RunBenchServe(*o); });
}

}  // namespace

void AddBenchCommand(CLI::App& app, int& exit_code) {
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Benchmarks (serve: load against a server; latency: one batch through the engine; "
      "throughput: a request mix through the engine)");
  bench->require_subcommand(1);
  AddBenchServeCommand(*bench, exit_code);
  AddBenchLatencyCommand(*bench, exit_code);
  AddBenchThroughputCommand(*bench, exit_code);
}

}  // namespace atom::cli
