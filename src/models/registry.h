// The model registry: architectures by their Hugging Face `architectures` name.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/checkpoint.h"
#include "models/config.h"
#include "models/model.h"

namespace atom {

struct LoadOptions {
  ops::KernelContext kernel_context;
  ops::EnvLookup env = ops::ProcessEnv();  // where ATOM_<OP>_KERNEL overrides are read
  // Reads the whole checkpoint into memory before building the model, telling `progress` (if
  // set) the bytes read of the total: a server is then ready when it says it is.
  bool prefault = false;
  // With kernel_context.device on CUDA: the largest step, which sizes the model's fixed
  // activation buffers on the device.
  int max_num_batched_tokens = 8192;
  bool enforce_eager = false;  // CUDA: no CUDA graphs for decode steps
  // The KV cache's element type (--kv-cache-dtype; models/kv_cache_dtype.h): unset is the
  // backend's default, bf16 on CUDA and f32 on the CPU. CUDA also holds kF8E4M3; the CPU f32 only.
  std::optional<DType> kv_cache_dtype;
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Architecture names with a registered model, sorted.
std::vector<std::string> SupportedArchitectures();

// Loads config.json and the checkpoint in `dir` and builds the model its architecture names.
// An unknown architecture is an error listing the supported ones; a tensor missing from the
// checkpoint or disagreeing with the config is an error naming the tensor and its file.
StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& dir, const LoadOptions& options = {});

}  // namespace atom
