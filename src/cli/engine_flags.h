// The engine options, spelled as vLLM spells them, shared by `atom generate` and `atom serve`.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "models/config.h"

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
};

void AddEngineFlags(CLI::App* cmd, EngineFlags& flags);

// The engine config for a model: flags plus the model's stop tokens (generation_config.json's
// EOS ids, else config.json's).
EngineConfig MakeEngineConfig(const EngineFlags& flags, const ModelConfig& model,
                              const GenerationConfig& generation);

}  // namespace atom::cli
