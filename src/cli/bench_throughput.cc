// atom bench throughput: a request mix through the engine, as vLLM's benchmark_throughput does —
// N requests with prompt and output lengths drawn uniformly from [I·(1−r), I·(1+r)] and
// [O·(1−r), O·(1+r)], all queued at once — reporting requests/s, output tokens/s and total
// tokens/s as a table and JSON. The model runs wherever --device puts it.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "core/logging.h"
#include "engine/engine.h"
#include "models/registry.h"

namespace atom::cli {

namespace {

struct BenchThroughputOptions {
  std::string model_dir = DefaultModelDir();
  int num_prompts = 256;
  int input_len = 512;
  int output_len = 128;
  double range_ratio = 0.0;  // lengths vary by ± this fraction
  uint64_t seed = 0;
  std::string json_out;
  EngineFlags engine;
};

int RunBenchThroughput(const BenchThroughputOptions& o) {
  auto fail = [](const Status& s) {
    ATOM_LOG_ERROR("{}", s.ToString());
    return 1;
  };
  auto loaded = LoadEngine(o.model_dir, o.engine);
  if (!loaded.ok()) return fail(loaded.status());
  const LoadOptions& load = loaded->load;
  Model& model = *loaded->model;
  Engine& engine = *loaded->engine;

  std::mt19937_64 rng(o.seed);
  const int64_t vocab = model.config().vocab_size;
  std::uniform_int_distribution<int32_t> token(1000, int32_t(std::min<int64_t>(vocab, 100000)) - 1);
  auto length = [&](int mean) {
    const int lo = std::max(1, int(mean * (1 - o.range_ratio)));
    const int hi = std::max(lo, int(mean * (1 + o.range_ratio)));
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  int64_t prompt_tokens = 0, output_tokens = 0;
  for (int i = 0; i < o.num_prompts; ++i) {
    std::vector<int32_t> prompt(size_t(length(o.input_len)));
    for (int32_t& t : prompt) t = token(rng);
    prompt_tokens += int64_t(prompt.size());
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = length(o.output_len);
    p.ignore_eos = true;
    auto id = engine.AddRequest(std::move(prompt), p, [&](const RequestOutput& out) {
      output_tokens += int64_t(out.token_ids.size());
    });
    if (!id.ok()) return fail(id.status());
  }
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto more = engine.Step();
    if (!more.ok()) return fail(more.status());
    if (!*more) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nlohmann::json j = {{"model", o.model_dir},
                            {"device", DeviceName(load.kernel_context.device)},
                            {"kernels", KernelVariants(model)},
                            {"num_prompts", o.num_prompts},
                            {"prompt_tokens", prompt_tokens},
                            {"output_tokens", output_tokens},
                            {"seconds", seconds},
                            {"requests_per_s", o.num_prompts / seconds},
                            {"output_tokens_per_s", output_tokens / seconds},
                            {"total_tokens_per_s", (prompt_tokens + output_tokens) / seconds}};
  fmt::print("{} requests ({} prompt + {} output tokens) on {} in {:.2f} s:\n", o.num_prompts,
             prompt_tokens, output_tokens, DeviceName(load.kernel_context.device), seconds);
  fmt::print("  {:.2f} requests/s, {:.1f} output tok/s, {:.1f} total tok/s\n",
             o.num_prompts / seconds, output_tokens / seconds,
             (prompt_tokens + output_tokens) / seconds);
  if (!o.json_out.empty()) std::ofstream(o.json_out) << j.dump(1) << "\n";
  return 0;
}

}  // namespace

void AddBenchThroughputCommand(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<BenchThroughputOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "throughput", "A request mix through the engine, all queued at once: requests/s, tokens/s");
  cmd->add_option("model", o->model_dir, "Model directory (default: the bundled demo model)");
  cmd->add_option("--num-prompts", o->num_prompts, "Requests")->check(CLI::PositiveNumber);
  cmd->add_option("--input-len", o->input_len, "Mean prompt tokens")->check(CLI::PositiveNumber);
  cmd->add_option("--output-len", o->output_len, "Mean output tokens")->check(CLI::PositiveNumber);
  cmd->add_option("--range-ratio", o->range_ratio, "Lengths vary uniformly by ± this fraction")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", o->seed, "Seed of the prompts and lengths");
  cmd->add_option("--json-out", o->json_out, "Also write the results as JSON");
  AddEngineFlags(cmd, o->engine);
  cmd->callback([o, &exit_code] { exit_code = RunBenchThroughput(*o); });
}

}  // namespace atom::cli
