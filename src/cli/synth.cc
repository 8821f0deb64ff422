// atom synth: writes a random-weight checkpoint in the Hugging Face layout (models/synthetic.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>

#include <algorithm>

#include "cli/commands.h"
#include "core/logging.h"
#include "models/synthetic.h"
#include "tokenizer/hf_tokenizer_writer.h"

namespace atom::cli {

namespace {

struct SynthOptions {
  std::string arch;
  SyntheticOptions synthetic;
};

const std::vector<std::string>& SupportedArchs() {
  static const std::vector<std::string> archs = {"gpt-oss"};
  return archs;
}

int RunSynth(SynthOptions o) {
  const auto& archs = SupportedArchs();
  if (std::find(archs.begin(), archs.end(), o.arch) == archs.end()) {
    ATOM_LOG_ERROR("--arch {}: not a supported architecture (supported: {})", o.arch,
                   fmt::join(archs, ", "));
    return 1;
  }
  o.synthetic.write_tokenizer_files = WriteO200kHarmonyTokenizerFiles;
  auto plan = PlanSyntheticGptOss(o.synthetic);
  if (!plan.ok()) {
    ATOM_LOG_ERROR("{}", plan.status().ToString());
    return 1;
  }
  ATOM_LOG_INFO("writing {} preset '{}' ({} experts, {} tensors, {:.1f} MB in {} shard(s)) to {}",
                o.arch, o.synthetic.preset, o.synthetic.experts, plan->tensors.size(),
                double(plan->total_bytes) / 1e6, plan->shard_names.size(), o.synthetic.out_dir);
  SyntheticStats stats;
  const Status s = WriteSyntheticGptOss(o.synthetic, &stats);
  if (!s.ok()) {
    ATOM_LOG_ERROR("{}", s.ToString());
    return 1;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  ATOM_LOG_INFO("wrote {:.1f} MB in {:.2f} s ({:.0f} MB/s; tokenizer {:.2f} s), peak RSS {:.0f} MB",
                double(stats.bytes_written) / 1e6, stats.seconds,
                stats.seconds > 0 ? double(stats.bytes_written) / 1e6 / stats.seconds : 0.0,
                stats.tokenizer_seconds, double(usage.ru_maxrss) / 1024.0);
  return 0;
}

}  // namespace

void AddSynthCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SynthOptions>();
  o->synthetic.tokenizer_ranks = ATOM_O200K_RANKS;
  CLI::App* cmd =
      app.add_subcommand("synth", "Write a random-weight checkpoint in the Hugging Face layout");
  cmd->add_option("--arch", o->arch, "Architecture: gpt-oss")->required();
  cmd->add_option("--preset", o->synthetic.preset,
                  "tiny (fixture dims) | demo (small, real vocabulary) | 20b | 120b (real shapes)")
      ->check(CLI::IsMember(SyntheticPresets()))
      ->capture_default_str();
  cmd->add_option("--out,-o", o->synthetic.out_dir, "Output directory (created if missing)")
      ->required();
  cmd->add_option("--seed", o->synthetic.seed, "Random seed")->capture_default_str();
  cmd->add_option("--experts", o->synthetic.experts,
                  "Expert weights: mxfp4 (as released) | bf16 (HF's dequantized layout)")
      ->check(CLI::IsMember({"mxfp4", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--layers", o->synthetic.layers,
                  "Number of layers (0: the preset's; 20b/120b can only be cut)")
      ->capture_default_str();
  cmd->add_option("--tokenizer-ranks", o->synthetic.tokenizer_ranks,
                  "o200k_base.tiktoken, for the tokenizer.json of real-vocabulary presets")
      ->capture_default_str();
  cmd->callback([o, &exit_code] { exit_code = RunSynth(*o); });
}

}  // namespace atom::cli
