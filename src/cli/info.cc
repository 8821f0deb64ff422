// atom info --model DIR: what a checkpoint is and how atom.cpp will run it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "core/logging.h"
#include "models/registry.h"

namespace atom::cli {

namespace {

std::string Human(uint64_t n) {
  const char* units[] = {"", "K", "M", "G", "T"};
  double v = double(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{}", n) : fmt::format("{:.3f}{}", v, units[u]);
}

std::string LayerPattern(const ModelConfig& c) {
  std::vector<int> sliding, full;
  for (int i = 0; i < int(c.layer_types.size()); ++i)
    (c.is_sliding(i) ? sliding : full).push_back(i);
  if (sliding.empty()) return "all full attention";
  return fmt::format("sliding window {} on layers [{}]; full attention on [{}]", c.sliding_window,
                     fmt::join(sliding, ","), fmt::join(full, ","));
}

int RunInfo(const std::string& dir) {
  auto model = LoadModel(dir);
  if (!model.ok()) {
    ATOM_LOG_ERROR("{}", model.status().ToString());
    return 1;
  }
  const ModelConfig& c = (*model)->config();
  const ModelSummary s = (*model)->summary();
  fmt::print("model:         {}\n", dir);
  fmt::print("architecture:  {} (model_type {})\n", c.architecture, c.model_type);
  fmt::print("layers:        {} — {}\n", c.num_hidden_layers, LayerPattern(c));
  fmt::print("hidden:        {}; attention {} query / {} kv heads × {}; sinks\n", c.hidden_size,
             c.num_attention_heads, c.num_key_value_heads, c.head_dim);
  if (c.num_local_experts > 0)
    fmt::print("experts:       {} per layer, top-{}, intermediate {}, stored as {}\n",
               c.num_local_experts, c.num_experts_per_tok, c.intermediate_size,
               s.expert_format);
  fmt::print("vocabulary:    {}\n", c.vocab_size);
  fmt::print("context:       {} positions; rope theta {}{}\n", c.max_position_embeddings,
             c.rope_theta,
             c.rope_scaling.type == ops::RopeType::kYarn
                 ? fmt::format(", yarn factor {} over {} (beta {}/{}, truncate {})",
                               c.rope_scaling.factor,
                               c.rope_scaling.original_max_position_embeddings,
                               c.rope_scaling.beta_fast, c.rope_scaling.beta_slow,
                               c.rope_scaling.truncate)
                 : std::string());
  fmt::print("quantization:  {}\n",
             c.quantization ? fmt::format("{} (not converted: {})", c.quantization->quant_method,
                                          fmt::join(c.quantization->modules_to_not_convert, ", "))
                            : std::string("none"));
  fmt::print("parameters:    {} ({} in experts)\n", Human(s.parameters),
             Human(s.expert_parameters));
  fmt::print("weights:       {} bytes ({}B)\n", s.tensor_bytes, Human(s.tensor_bytes));
  fmt::print("kv cache:      {} bytes per token ({})\n", s.kv_bytes_per_token,
             DTypeName((*model)->kv_cache_spec().dtype));
  fmt::print("kernels:\n");
  for (const ops::KernelChoice& k : (*model)->kernel_choices())
    fmt::print("  {:<16} {:<16} {}\n", k.op, k.variant, k.reason);
  return 0;
}

}  // namespace

void AddInfoCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("info", "Describe a model checkpoint");
  auto dir = std::make_shared<std::string>(DefaultModelDir());
  cmd->add_option("--model,-m", *dir, "Model directory (Hugging Face layout)");
  cmd->callback([dir, &exit_code] { exit_code = RunInfo(*dir); });
}

}  // namespace atom::cli
