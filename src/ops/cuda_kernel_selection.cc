#include "ops/cuda_kernel_selection.h"

#include <fmt/format.h>

namespace atom::ops {

namespace {

using Ctx = CudaKernelContext;

// Predicates: why a variant does not apply ("" when it does).
std::string NeedsSm80(const Ctx& c) {
  return c.sm_arch >= 80 ? "" : fmt::format("needs sm_80 or newer (device is sm_{})", c.sm_arch);
}
std::string NeedsSm90aCode(const Ctx& c) {
  if (c.sm_arch != 90) return fmt::format("needs an sm_90 device (device is sm_{})", c.sm_arch);
  if (c.loaded_image_arch < 900) return "sm_90a code not in this build (ATOM_CUDA_TUNED=OFF)";
  return "";
}
std::string Always(const Ctx&) { return ""; }

std::string NeedsMxfp4(const Ctx& c) {
  if (!c.mxfp4_experts) return "needs MXFP4 experts (these are bf16)";
  return NeedsSm80(c);
}
std::string NeedsBf16Experts(const Ctx& c) {
  return c.mxfp4_experts ? "needs bf16 experts (these are MXFP4)" : "";
}
std::string MoeStreamTma(const Ctx& c) {
  if (std::string why = NeedsMxfp4(c); !why.empty()) return why;
  if (std::string why = NeedsSm90aCode(c); !why.empty()) return why;
  if (c.max_shared_memory_per_block < kMoeStreamTmaSharedBytes)
    return fmt::format("needs {} bytes of shared memory per block (device allows {})",
                       kMoeStreamTmaSharedBytes, c.max_shared_memory_per_block);
  return "";
}

std::string NeedsBf16Cache(const Ctx& c) {
  return c.kv_cache_dtype == DType::kBF16
             ? ""
             : fmt::format("needs a bf16 KV cache (it is {})", DTypeName(c.kv_cache_dtype));
}
std::string NeedsFp8Cache(const Ctx& c) {
  return c.kv_cache_dtype == DType::kF8E4M3
             ? ""
             : fmt::format("needs an fp8 KV cache (it is {})", DTypeName(c.kv_cache_dtype));
}

std::string FlashMma(const Ctx& c) {
  if (c.head_dim != 64 && c.head_dim != 128)
    return fmt::format("head_dim {} (supports 64 and 128)", c.head_dim);
  if (c.q_heads_per_kv_head < 1 || c.q_heads_per_kv_head > 64)
    return fmt::format("{} query heads per KV head (supports 1..64)", c.q_heads_per_kv_head);
  if (c.kv_cache_dtype != DType::kBF16 && c.kv_cache_dtype != DType::kF8E4M3)
    return fmt::format("reads bf16 or fp8 KV caches (it is {})", DTypeName(c.kv_cache_dtype));
  return NeedsSm80(c);
}

// One variant and nothing to act on.
using Single = int;

template <typename Payload>
using Table = std::vector<Variant<Ctx, Payload>>;

// The single source of truth for which CUDA variants exist, best first.
struct Registry {
  Table<Single> embedding = {{"cuda", 0, NeedsSm80}};
  Table<Single> rms_norm = {{"cuda_fused_add", 0, NeedsSm80}};
  Table<CudaLinearKernel> linear = {
      {"gemv_few_tokens", CudaLinearKernel::kGemvFewTokens, NeedsSm80},
      {"cublaslt", CudaLinearKernel::kCublasLt, Always}};
  Table<CudaKvWriteKernel> rope_write_kv = {
      {"bf16_cache", CudaKvWriteKernel::kBf16Cache, NeedsBf16Cache},
      {"fp8_cache", CudaKvWriteKernel::kFp8Cache, NeedsFp8Cache}};
  Table<Single> paged_attention = {{"flash_mma", 0, FlashMma}};
  Table<Single> router_topk = {{"cuda_warp", 0, NeedsSm80}};
  Table<CudaMoeKernel> moe_experts = {{"mxfp4_stream_tma", CudaMoeKernel::kStreamTma, MoeStreamTma},
                                      {"mxfp4_stream", CudaMoeKernel::kStream, NeedsMxfp4},
                                      {"mxfp4_decode", CudaMoeKernel::kDecode, NeedsMxfp4},
                                      {"bf16_simple", CudaMoeKernel::kBf16, NeedsBf16Experts}};
  Table<Single> sampling = {{"cuda", 0, NeedsSm80}};  // argmax_rows + sample_rows

  // Calls f(op name, table, where the payload goes) for every op in report order.
  template <typename F>
  void ForEach(CudaKernels& k, F&& f) const {
    Single unused = 0;
    f("embedding", embedding, unused);
    f("rms_norm", rms_norm, unused);
    f("linear", linear, k.linear);
    f("rope_write_kv", rope_write_kv, k.rope_write_kv);
    f("paged_attention", paged_attention, unused);
    f("router_topk", router_topk, unused);
    f("moe_experts", moe_experts, k.moe_experts);
    f("sampling", sampling, unused);
  }
};

const Registry& GetRegistry() {
  static const Registry registry;
  return registry;
}

}  // namespace

StatusOr<CudaKernelSelection> SelectCudaKernels(const CudaKernelContext& ctx,
                                                const EnvLookup& env) {
  CudaKernelSelection sel;
  Status status;
  GetRegistry().ForEach(sel.kernels, [&](std::string_view op, const auto& table, auto& slot) {
    if (status.ok()) status = SelectVariant(op, table, ctx, env, &slot, &sel.choices);
  });
  if (!status.ok()) return status;
  return sel;
}

std::vector<std::string> CudaKernelVariantNames(std::string_view op) {
  std::vector<std::string> names;
  CudaKernels unused;
  GetRegistry().ForEach(unused, [&](std::string_view name, const auto& table, auto&) {
    if (name != op) return;
    for (const auto& v : table) names.emplace_back(v.name);
  });
  return names;
}

}  // namespace atom::ops
