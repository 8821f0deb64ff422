// atom bench latency: one fixed batch through the engine, as vLLM's benchmark_latency does —
// B prompts of I random tokens, O greedy tokens each (EOS ignored) — reporting the prefill time,
// the decode step time and tokens/s (medians over iterations), as a table and JSON. The model
// runs wherever --device puts it; ATOM_CUDA_PROFILE=1 adds a per-op breakdown on the GPU.
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

using Clock = std::chrono::steady_clock;

struct BenchLatencyOptions {
  std::string model_dir = DefaultModelDir();
  int batch_size = 1;
  int input_len = 1024;
  int output_len = 128;
  int num_iters = 3;
  int warmup_iters = 1;
  uint64_t seed = 0;
  std::string json_out;
  EngineFlags engine;
};

struct Iteration {
  double prefill_s = 0;               // until every sequence has its first token
  std::vector<double> decode_step_s;  // each later step (one token per sequence)
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

StatusOr<Iteration> RunOnce(Engine& engine, const BenchLatencyOptions& o, std::mt19937_64& rng,
                            int64_t vocab) {
  std::uniform_int_distribution<int32_t> token(1000, int32_t(std::min<int64_t>(vocab, 100000)) - 1);
  std::vector<int> produced(size_t(o.batch_size), 0);
  for (int b = 0; b < o.batch_size; ++b) {
    std::vector<int32_t> prompt(size_t(o.input_len));
    for (int32_t& t : prompt) t = token(rng);
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = o.output_len;
    p.ignore_eos = true;
    ATOM_RETURN_IF_ERROR(engine
                             .AddRequest(std::move(prompt), p,
                                         [&produced, b](const RequestOutput& out) {
                                           produced[size_t(b)] += int(out.token_ids.size());
                                         })
                             .status());
  }
  Iteration it;
  const Clock::time_point start = Clock::now();
  bool prefilled = false;
  for (;;) {
    const Clock::time_point before = Clock::now();
    ATOM_ASSIGN_OR_RETURN(bool more, engine.Step());
    const Clock::time_point after = Clock::now();
    if (!prefilled) {
      prefilled = std::all_of(produced.begin(), produced.end(), [](int n) { return n > 0; });
      if (prefilled) it.prefill_s = std::chrono::duration<double>(after - start).count();
    } else {
      it.decode_step_s.push_back(std::chrono::duration<double>(after - before).count());
    }
    if (!more) break;
  }
  return it;
}

int RunBenchLatency(const BenchLatencyOptions& o) {
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
  std::vector<double> prefill, decode;
  for (int i = 0; i < o.warmup_iters + o.num_iters; ++i) {
    auto it = RunOnce(engine, o, rng, model.config().vocab_size);
    if (!it.ok()) return fail(it.status());
    if (i < o.warmup_iters) continue;
    prefill.push_back(it->prefill_s);
    decode.push_back(Median(it->decode_step_s));
  }
  const double prefill_s = Median(prefill), step_s = Median(decode);
  nlohmann::json j = {{"model", o.model_dir},
                      {"device", DeviceName(load.kernel_context.device)},
                      {"kv_cache_dtype", DTypeName(model.kv_cache_spec().dtype)},
                      {"kernels", KernelVariants(model)},
                      {"batch_size", o.batch_size},
                      {"input_len", o.input_len},
                      {"output_len", o.output_len},
                      {"num_iters", o.num_iters},
                      {"prefill_s", prefill_s},
                      {"prefill_tokens_per_s", o.batch_size * o.input_len / prefill_s},
                      {"decode_step_s", step_s},
                      {"decode_tokens_per_s", step_s > 0 ? o.batch_size / step_s : 0.0},
                      {"prefill_s_all", prefill},
                      {"decode_step_s_all", decode}};
  fmt::print("batch {} × ({} in, {} out) on {} ({} KV cache), median of {}:\n", o.batch_size,
             o.input_len, o.output_len, DeviceName(load.kernel_context.device),
             DTypeName(model.kv_cache_spec().dtype), o.num_iters);
  fmt::print("  prefill      {:10.2f} ms  {:10.0f} tok/s\n", 1e3 * prefill_s,
             o.batch_size * o.input_len / prefill_s);
  fmt::print("  decode step  {:10.3f} ms  {:10.1f} tok/s\n", 1e3 * step_s,
             step_s > 0 ? o.batch_size / step_s : 0.0);
  if (!o.json_out.empty()) std::ofstream(o.json_out) << j.dump(1) << "\n";
  return 0;
}

}  // namespace

void AddBenchLatencyCommand(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<BenchLatencyOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "latency", "One fixed batch through the engine: prefill time, decode step time, tokens/s");
  cmd->add_option("model", o->model_dir, "Model directory (default: the bundled demo model)");
  cmd->add_option("--batch-size", o->batch_size, "Prompts in the batch")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--input-len", o->input_len, "Tokens per prompt")->check(CLI::PositiveNumber);
  cmd->add_option("--output-len", o->output_len, "Tokens generated per prompt")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--num-iters", o->num_iters, "Measured iterations")->check(CLI::PositiveNumber);
  cmd->add_option("--num-iters-warmup", o->warmup_iters, "Iterations run first, not measured")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "Seed of the random prompts");
  cmd->add_option("--json-out", o->json_out, "Also write the results as JSON");
  AddEngineFlags(cmd, o->engine);
  cmd->callback([o, &exit_code] { exit_code = RunBenchLatency(*o); });
}

}  // namespace atom::cli
