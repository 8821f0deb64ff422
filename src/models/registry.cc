#include "models/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/logging.h"
#include "models/corpus_lookup.h"
#include "models/gpt_oss.h"
#include "models/kv_cache_dtype.h"
#if ATOM_WITH_CUDA
#include "models/cuda/gpt_oss_cuda.h"
#endif

namespace atom {

namespace {

using Factory = StatusOr<std::unique_ptr<Model>> (*)(ModelConfig, Checkpoint, ops::KernelSelection);

struct Entry {
  std::string_view architecture;
  Factory create;
};

// Every architecture atom.cpp runs. Adding a model is one line here plus its file.
constexpr Entry kModels[] = {
    {"GptOssForCausalLM", CreateGptOss},
    {"CorpusLookupForCausalLM", CreateCorpusLookup},  // a test model (see corpus_lookup.h)
};

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> names;
  for (const Entry& e : kModels) names.emplace_back(e.architecture);
  std::sort(names.begin(), names.end());
  return names;
}

StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& dir, const LoadOptions& options) {
  ATOM_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  const Entry* entry = nullptr;
  for (const Entry& e : kModels)
    if (e.architecture == config.architecture) entry = &e;
  if (entry == nullptr)
    return Unimplemented("{}/config.json: architecture \"{}\" is not supported; supported: {}", dir,
                         config.architecture, fmt::join(SupportedArchitectures(), ", "));
  if (options.kernel_context.device.type == DeviceType::kCuda) {
#if ATOM_WITH_CUDA
    ATOM_ASSIGN_OR_RETURN(const DType kv_cache_dtype,
                          ResolveKvCacheDType(options.kv_cache_dtype, DeviceType::kCuda));
    if (config.architecture != "GptOssForCausalLM")
      return Unimplemented(
          "{}/config.json: architecture \"{}\" has no CUDA implementation yet "
          "(CUDA: GptOssForCausalLM)",
          dir, config.architecture);
    ATOM_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
    if (options.prefault) checkpoint.Prefault(options.progress);
    return CreateGptOssCuda(std::move(config), std::move(checkpoint),
                            options.max_num_batched_tokens, options.enforce_eager, kv_cache_dtype,
                            options.env);
#else
    return Unimplemented("this build has no CUDA backend (configure with --preset cuda)");
#endif
  }
  ATOM_RETURN_IF_ERROR(ResolveKvCacheDType(options.kv_cache_dtype, DeviceType::kCpu).status());
  ATOM_ASSIGN_OR_RETURN(ops::KernelSelection kernels,
                        ops::SelectKernels(options.kernel_context, options.env));
  ATOM_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
  if (options.prefault) checkpoint.Prefault(options.progress);
  return entry->create(std::move(config), std::move(checkpoint), std::move(kernels));
}

}  // namespace atom
