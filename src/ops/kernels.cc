#include "ops/kernels.h"

#include <cstdlib>

#include "backends/cpu/cpu_kernels.h"

namespace atom::ops {

namespace {

std::string NeedsCpu(const KernelContext& ctx) {
  return ctx.device.type == DeviceType::kCpu ? std::string()
                                              : "runs on the CPU only (device is " +
                                                    DeviceName(ctx.device) + ")";
}

// Each op's variants, best first. The CPU reference is last everywhere: the fallback and the
// baseline every other kernel is tested against.
template <typename Fn>
using Table = std::vector<Variant<KernelContext, Fn*>>;

template <typename Fn>
Table<Fn> CpuPair(Fn* fast, Fn* reference) {
  return {{"cpu", fast, NeedsCpu}, {"cpu_reference", reference, NeedsCpu}};
}

// The single source of truth for which variants exist.
struct Registry {
  Table<EmbeddingFn> embedding = CpuPair<EmbeddingFn>(cpu::Embedding, cpu::ref::Embedding);
  Table<RmsNormFn> rms_norm = CpuPair<RmsNormFn>(cpu::RmsNorm, cpu::ref::RmsNorm);
  Table<LinearFn> linear = CpuPair<LinearFn>(cpu::Linear, cpu::ref::Linear);
  Table<AddFn> add = CpuPair<AddFn>(cpu::Add, cpu::ref::Add);
  Table<RopeFn> rope = CpuPair<RopeFn>(cpu::Rope, cpu::ref::Rope);
  Table<WriteKvFn> write_kv = CpuPair<WriteKvFn>(cpu::WriteKv, cpu::ref::WriteKv);
  Table<PagedAttentionFn> paged_attention =
      CpuPair<PagedAttentionFn>(cpu::PagedAttention, cpu::ref::PagedAttention);
  Table<RouterTopKFn> router_topk = CpuPair<RouterTopKFn>(cpu::RouterTopK, cpu::ref::RouterTopK);
  Table<MoeExpertsFn> moe_experts = CpuPair<MoeExpertsFn>(cpu::MoeExperts, cpu::ref::MoeExperts);

  // Calls f(op_name, table, Kernels member) for every op in report order.
  template <typename F>
  void ForEach(Kernels& k, F&& f) const {
    f("embedding", embedding, k.embedding);
    f("rms_norm", rms_norm, k.rms_norm);
    f("linear", linear, k.linear);
    f("add", add, k.add);
    f("rope", rope, k.rope);
    f("write_kv", write_kv, k.write_kv);
    f("paged_attention", paged_attention, k.paged_attention);
    f("router_topk", router_topk, k.router_topk);
    f("moe_experts", moe_experts, k.moe_experts);
  }
};

const Registry& GetRegistry() {
  static const Registry registry;
  return registry;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

StatusOr<KernelSelection> SelectKernels(const KernelContext& ctx, const EnvLookup& env) {
  KernelSelection sel;
  Status status;
  GetRegistry().ForEach(sel.kernels, [&](std::string_view op, const auto& table, auto*& slot) {
    if (status.ok()) status = SelectVariant(op, table, ctx, env, &slot, &sel.choices);
  });
  if (!status.ok()) return status;
  return sel;
}

std::vector<std::string> KernelVariantNames(std::string_view op) {
  std::vector<std::string> names;
  Kernels unused;
  GetRegistry().ForEach(unused, [&](std::string_view name, const auto& table, auto*&) {
    if (name != op) return;
    for (const auto& v : table) names.emplace_back(v.name);
  });
  return names;
}

}  // namespace atom::ops
