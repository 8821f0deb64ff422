// The engine options, spelled as vLLM spells them, shared by `atom generate` and `atom serve`.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "engine/engine.h"
#include "models/config.h"
#include "models/registry.h"

namespace atom::cli {

struct EngineFlags {
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int64_t max_model_len = 0;  // 0: the model's
  int block_size = 16;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  double kv_cache_memory_gib = 4.0;
  int max_pending_requests = 4096;
  std::string device = "auto";          // auto | cpu | cuda
  double gpu_memory_utilization = 0.9;  // CUDA: share of the GPU's memory for weights + KV
  bool enforce_eager = false;           // CUDA: no CUDA graphs
  std::string kv_cache_dtype = "auto";  // auto | bf16 | fp8 (models/kv_cache_dtype.h)
  bool device_sampling = true;          // CUDA: sample on the GPU (EngineConfig::device_sampling)
};

void AddEngineFlags(CLI::App* cmd, EngineFlags& flags);

// The engine config for a model: flags plus the model's stop tokens (generation_config.json's
// EOS ids, else config.json's).
EngineConfig MakeEngineConfig(const EngineFlags& flags, const ModelConfig& model,
                              const GenerationConfig& generation);

// The start-up log's one line per op: the kernel variant chosen and why better ones were skipped.
void LogKernelChoices(const Model& model);
// The chosen variant by op, for benchmark results (which kernels produced the numbers).
std::map<std::string, std::string> KernelVariants(const Model& model);

// Where the model runs: --device, where "auto" is the first GPU when this build has the CUDA
// backend and a GPU is visible, else the CPU. Logs the choice.
StatusOr<LoadOptions> MakeLoadOptions(const EngineFlags& flags);

// On a GPU, sizes the KV cache from --gpu-memory-utilization: that share of the device's memory,
// less what the model holds after a profiling pass (engine/memory_profile.h: weights, and the
// buffers and graphs of the largest steps `config` allows). No-op on the CPU, where
// --kv-cache-memory applies.
Status SizeKvCacheForDevice(const EngineFlags& flags, const LoadOptions& load, Model& model,
                            EngineConfig& config);

// A model loaded where the flags say, and an engine over it (no tokenizer: token ids only), as
// the engine benchmarks use them.
struct LoadedEngine {
  LoadOptions load;
  std::unique_ptr<Model> model;
  std::unique_ptr<Engine> engine;
};
StatusOr<LoadedEngine> LoadEngine(const std::string& model_dir, const EngineFlags& flags);

}  // namespace atom::cli
