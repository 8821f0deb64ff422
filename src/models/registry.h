// The model registry: architectures by their Hugging Face `architectures` name.
#pragma once

#include <memory>
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
};

// Architecture names with a registered model, sorted.
std::vector<std::string> SupportedArchitectures();

// Loads config.json and the checkpoint in `dir` and builds the model its architecture names.
// An unknown architecture is an error listing the supported ones; a tensor missing from the
// checkpoint or disagreeing with the config is an error naming the tensor and its file.
StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& dir,
                                           const LoadOptions& options = {});

}  // namespace atom
