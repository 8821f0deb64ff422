#include "cli/engine_flags.h"

#include <iterator>
#include <vector>

#include "core/logging.h"
#include "engine/memory_profile.h"
#include "models/kv_cache_dtype.h"
#if ATOM_WITH_CUDA
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_info.h"
#endif

namespace atom::cli {

void AddEngineFlags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--max-num-seqs", f.max_num_seqs, "Sequences running at once at most")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
                  "Tokens per engine step at most")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-model-len", f.max_model_len,
                  "Longest prompt + output (default: the model's context)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--block-size", f.block_size, "Tokens per KV-cache block")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f.enable_prefix_caching,
                "Reuse the KV of shared prompt prefixes (default on)");
  cmd->add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", f.enable_chunked_prefill,
                "Split long prompts across steps so decodes keep flowing (default on)");
  cmd->add_option("--kv-cache-memory", f.kv_cache_memory_gib,
                  "GiB of memory for the KV cache (CPU backend)")
      ->check(CLI::PositiveNumber);
  cmd->add_option(
         "--device", f.device,
         "Where the model runs: auto (a GPU if this build and machine have one), cpu, cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--gpu-memory-utilization", f.gpu_memory_utilization,
                  "CUDA: share of the GPU's memory for weights, buffers and the KV cache")
      ->check(CLI::Range(0.05, 1.0));
  cmd->add_flag("--enforce-eager", f.enforce_eager,
                "CUDA: run decode steps kernel by kernel instead of as CUDA graphs");
  cmd->add_option("--kv-cache-dtype", f.kv_cache_dtype,
                  "KV cache element type: auto (bf16 on CUDA, f32 on the CPU), bf16, or fp8 "
                  "(e4m3, scales 1.0: twice the tokens; CUDA only)")
      ->check(CLI::IsMember(
          std::vector<std::string>(std::begin(kKvCacheDTypeNames), std::end(kKvCacheDTypeNames))));
  cmd->add_flag("--device-sampling,!--no-device-sampling", f.device_sampling,
                "CUDA: sample on the GPU instead of copying logits to the host (default on; the "
                "same tokens either way)");
  cmd->add_option("--max-pending-requests", f.max_pending_requests,
                  "Requests queued or running at most; beyond, new ones are refused (HTTP 503)")
      ->check(CLI::PositiveNumber);
}

EngineConfig MakeEngineConfig(const EngineFlags& f, const ModelConfig& model,
                              const GenerationConfig& generation) {
  EngineConfig c;
  c.scheduler.max_num_seqs = f.max_num_seqs;
  c.scheduler.max_num_batched_tokens = f.max_num_batched_tokens;
  c.scheduler.enable_chunked_prefill = f.enable_chunked_prefill;
  c.max_model_len = f.max_model_len;
  c.block_size = f.block_size;
  c.enable_prefix_caching = f.enable_prefix_caching;
  c.max_pending_requests = f.max_pending_requests;
  c.device_sampling = f.device_sampling;
  c.kv_cache_bytes = uint64_t(f.kv_cache_memory_gib * double(uint64_t(1) << 30));
  const std::vector<int64_t>& eos =
      generation.eos_token_ids.empty() ? model.eos_token_ids : generation.eos_token_ids;
  for (int64_t id : eos)
    if (id >= 0 && id < model.vocab_size) c.eos_token_ids.push_back(int32_t(id));
  // Without chunking every prompt must fit one step (vLLM raises the budget the same way).
  const int64_t len = f.max_model_len > 0 ? f.max_model_len : model.max_position_embeddings;
  if (!f.enable_chunked_prefill && c.scheduler.max_num_batched_tokens < len)
    c.scheduler.max_num_batched_tokens = int(len);
  return c;
}

void LogKernelChoices(const Model& model) {
  for (const ops::KernelChoice& k : model.kernel_choices())
    ATOM_LOG_INFO("kernel {:<16} {:<16} {}", k.op, k.variant, k.reason);
}

std::map<std::string, std::string> KernelVariants(const Model& model) {
  std::map<std::string, std::string> variants;
  for (const ops::KernelChoice& k : model.kernel_choices()) variants[k.op] = k.variant;
  return variants;
}

StatusOr<LoadOptions> MakeLoadOptions(const EngineFlags& f) {
  LoadOptions load;
  load.max_num_batched_tokens = f.max_num_batched_tokens;
  load.enforce_eager = f.enforce_eager;
  ATOM_ASSIGN_OR_RETURN(load.kv_cache_dtype, ParseKvCacheDType(f.kv_cache_dtype));
  if (f.device == "cpu") return load;
#if ATOM_WITH_CUDA
  ATOM_ASSIGN_OR_RETURN(std::vector<cuda::DeviceInfo> gpus, cuda::QueryDevices());
  if (gpus.empty()) {
    if (f.device == "cuda") return NotFound("--device cuda: no GPU is visible");
    ATOM_LOG_INFO("device: cpu (no GPU visible)");
    return load;
  }
  load.kernel_context.device = Device{DeviceType::kCuda, gpus[0].index};
  load.kernel_context.sm_arch = gpus[0].sm_arch;
  ATOM_LOG_INFO("device: {}", cuda::Describe(gpus[0]));
#else
  if (f.device == "cuda") return Unimplemented("--device cuda: this build has no CUDA backend");
  ATOM_LOG_INFO("device: cpu (this build has no CUDA backend)");
#endif
  return load;
}

Status SizeKvCacheForDevice(const EngineFlags& f, const LoadOptions& load, Model& model,
                            EngineConfig& config) {
  if (load.kernel_context.device.type != DeviceType::kCuda) return OkStatus();
#if ATOM_WITH_CUDA
  ATOM_RETURN_IF_ERROR(RunMemoryProfile(model, config));
  ATOM_ASSIGN_OR_RETURN(cuda::DeviceMemory memory, cuda::CurrentDeviceMemory());
  const double budget = f.gpu_memory_utilization * double(memory.total);
  const double used = double(memory.total - memory.free);
  if (budget <= used)
    return ResourceExhausted(
        "--gpu-memory-utilization {}: the model already holds {:.2f} of the {:.2f} GiB allowed",
        f.gpu_memory_utilization, used / double(1 << 30), budget / double(1 << 30));
  config.kv_cache_bytes = uint64_t(budget - used);
  ATOM_LOG_INFO(
      "KV cache: {:.2f} GiB ({:.0f}% of {:.2f} GiB, less {:.2f} GiB in use after a "
      "profiling step)",
      double(config.kv_cache_bytes) / double(1 << 30), 100 * f.gpu_memory_utilization,
      double(memory.total) / double(1 << 30), used / double(1 << 30));
#endif
  return OkStatus();
}

StatusOr<LoadedEngine> LoadEngine(const std::string& model_dir, const EngineFlags& flags) {
  LoadedEngine out;
  ATOM_ASSIGN_OR_RETURN(out.load, MakeLoadOptions(flags));
  ATOM_ASSIGN_OR_RETURN(out.model, LoadModel(model_dir, out.load));
  LogKernelChoices(*out.model);
  ATOM_ASSIGN_OR_RETURN(GenerationConfig generation, LoadGenerationConfig(model_dir));
  EngineConfig config = MakeEngineConfig(flags, out.model->config(), generation);
  ATOM_RETURN_IF_ERROR(SizeKvCacheForDevice(flags, out.load, *out.model, config));
  ATOM_ASSIGN_OR_RETURN(out.engine, Engine::Create(*out.model, nullptr, config));
  return out;
}

}  // namespace atom::cli
