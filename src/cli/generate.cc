// atom generate: greedy continuation of token-id prompts, all processed as one batch.
#include <charconv>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/logging.h"
#include "engine/generator.h"
#include "models/registry.h"
#include "models/safetensors_writer.h"

namespace atom::cli {

namespace {

struct GenerateOptions {
  std::string model_dir = DefaultModelDir();
  std::vector<std::string> prompt_ids;
  int max_tokens = 16;
  bool json = false;
  bool ignore_eos = false;
  int block_size = 16;
  std::string logits_out;
};

// "1,2,3" -> {1, 2, 3}. Errors name the prompt and the bad piece.
StatusOr<std::vector<int32_t>> ParseIds(const std::string& text, size_t index) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string_view piece(text.data() + pos, comma - pos);
    while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
    int32_t id = 0;
    auto [end, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), id);
    if (piece.empty() || ec != std::errc() || end != piece.data() + piece.size())
      return InvalidArgument("--prompt-ids #{}: \"{}\" is not a token id", index, piece);
    ids.push_back(id);
    pos = comma + 1;
  }
  return ids;
}

void PrintStats(const GenerateStats& st) {
  auto rate = [](int64_t n, double s) { return s > 0 ? double(n) / s : 0.0; };
  ATOM_LOG_INFO("prefill: {} tokens in {:.3f} s ({:.1f} tok/s)", st.prefill_tokens,
                st.prefill_seconds, rate(st.prefill_tokens, st.prefill_seconds));
  ATOM_LOG_INFO("decode:  {} tokens in {} steps, {:.3f} s ({:.1f} tok/s)", st.decode_tokens,
                st.decode_steps, st.decode_seconds, rate(st.decode_tokens, st.decode_seconds));
}

int RunGenerate(const GenerateOptions& o) {
  std::vector<GenerateRequest> requests;
  for (size_t i = 0; i < o.prompt_ids.size(); ++i) {
    auto ids = ParseIds(o.prompt_ids[i], i);
    if (!ids.ok()) {
      ATOM_LOG_ERROR("{}", ids.status().message());
      return 1;
    }
    requests.push_back({std::move(*ids), o.max_tokens, o.ignore_eos});
  }

  auto model = LoadModel(o.model_dir);
  if (!model.ok()) {
    ATOM_LOG_ERROR("{}", model.status().ToString());
    return 1;
  }
  for (const ops::KernelChoice& k : (*model)->kernel_choices())
    ATOM_LOG_INFO("kernel {:<16} {:<14} {}", k.op, k.variant, k.reason);

  // Stop on the EOS ids of generation_config.json, falling back to config.json's.
  auto gen_config = LoadGenerationConfig(o.model_dir);
  if (!gen_config.ok()) {
    ATOM_LOG_ERROR("{}", gen_config.status().ToString());
    return 1;
  }
  GeneratorOptions options;
  options.block_size = o.block_size;
  options.record_logits = !o.logits_out.empty();
  options.stop_token_ids = gen_config->eos_token_ids;
  if (options.stop_token_ids.empty()) options.stop_token_ids = (*model)->config().eos_token_ids;

  Generator generator(**model, options);
  GenerateStats stats;
  auto results = generator.Generate(requests, &stats);
  if (!results.ok()) {
    ATOM_LOG_ERROR("{}", results.status().ToString());
    return 1;
  }

  for (size_t i = 0; i < results->size(); ++i) {
    const GenerateResult& r = (*results)[i];
    if (o.json) {
      nlohmann::json line = {{"index", i},
                             {"prompt_ids", requests[i].prompt_ids},
                             {"output_ids", r.output_ids},
                             {"finish_reason", r.finish_reason}};
      fmt::print("{}\n", line.dump());
    } else {
      fmt::print("[{}] {} -> {} ({})\n", i, fmt::join(requests[i].prompt_ids, ","),
                 fmt::join(r.output_ids, ","), r.finish_reason);
    }
  }
  std::fflush(stdout);
  PrintStats(stats);

  if (!o.logits_out.empty()) {
    const int64_t vocab = (*model)->config().vocab_size;
    std::vector<NamedTensor> tensors;
    for (size_t i = 0; i < results->size(); ++i) {
      GenerateResult& r = (*results)[i];
      tensors.push_back({fmt::format("seq{}", i),
                         Tensor(r.logits.data(), DType::kF32, {r.logits_rows, vocab})});
    }
    if (Status s = WriteSafetensors(o.logits_out, tensors); !s.ok()) {
      ATOM_LOG_ERROR("{}", s.ToString());
      return 1;
    }
    ATOM_LOG_INFO("wrote logits of {} sequences to {}", tensors.size(), o.logits_out);
  }
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("generate", "Greedy generation from token-id prompts");
  auto o = std::make_shared<GenerateOptions>();
  cmd->add_option("--model,-m", o->model_dir, "Model directory (default: the bundled tiny model)");
  cmd->add_option("--prompt-ids", o->prompt_ids,
                  "Comma-separated token ids of one prompt; repeat for a batch")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--max-tokens", o->max_tokens, "New tokens per prompt")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--json", o->json, "One JSON object per prompt and line on stdout");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past EOS tokens");
  cmd->add_option("--block-size", o->block_size, "Tokens per KV-cache block")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--logits-out", o->logits_out,
                  "Write every computed position's logits to this safetensors file "
                  "(tensor seq<i>: [rows, vocab] f32)");
  cmd->callback([o, &exit_code] { exit_code = RunGenerate(*o); });
}

}  // namespace atom::cli
