// LaunchMoeExperts (moe.h): workspace, variant selection, and the four stages in order.
#include "backends/cuda/moe.h"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/router.h"

namespace atom::cuda {
namespace {

constexpr size_t kAlign = 256;
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The workspace carved into the routing tables, the activations and the per-pair outputs.
struct Workspace {
  moe::Routing routing;
  __nv_bfloat16* act = nullptr;
  float* y = nullptr;
  size_t bytes = 0;
};

Workspace Carve(void* base, int tokens, int k, int num_experts, int hidden, int intermediate) {
  Workspace w;
  uint8_t* p = static_cast<uint8_t*>(base);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    uint8_t* r = p == nullptr ? nullptr : p + at;
    at += AlignUp(bytes);
    return r;
  };
  const size_t pairs = size_t(tokens) * k;
  w.routing.offsets = reinterpret_cast<int32_t*>(take((num_experts + 1) * sizeof(int32_t)));
  w.routing.tile_offsets = reinterpret_cast<int32_t*>(take((num_experts + 1) * sizeof(int32_t)));
  w.routing.active = reinterpret_cast<int32_t*>(take(num_experts * sizeof(int32_t)));
  w.routing.num_active = reinterpret_cast<int32_t*>(take(sizeof(int32_t)));
  w.routing.slots = reinterpret_cast<int4*>(take(num_experts * sizeof(int4)));
  w.routing.sorted = reinterpret_cast<int32_t*>(take(pairs * sizeof(int32_t)));
  w.act = reinterpret_cast<__nv_bfloat16*>(take(pairs * intermediate * sizeof(__nv_bfloat16)));
  w.y = reinterpret_cast<float*>(take(pairs * hidden * sizeof(float)));
  w.bytes = at;
  return w;
}

}  // namespace

const char* MoeVariantName(MoeVariant variant) {
  switch (variant) {
    case MoeVariant::kAuto:
      return "auto";
    case MoeVariant::kDecode:
      return "decode";
    case MoeVariant::kStream:
      return "stream";
    case MoeVariant::kStreamTma:
      return "stream_tma";
    case MoeVariant::kTiled64:
      return "tiled64";
    case MoeVariant::kTiled128:
      return "tiled128";
    case MoeVariant::kBf16Simple:
      return "bf16_simple";
  }
  return "?";
}

bool MoeSupports(MoeVariant variant, const MoeDeviceExperts& experts) {
  const bool mxfp4 = experts.format == MoeExpertFormat::kMxfp4;
  switch (variant) {
    case MoeVariant::kAuto:
      return true;
    case MoeVariant::kBf16Simple:
      return !mxfp4;
    default:
      return mxfp4;
  }
}

MoeVariant SelectMoeVariant(const MoeDeviceExperts& experts, int tokens, int k,
                            MoeVariant few_tokens) {
  if (experts.format == MoeExpertFormat::kBf16) return MoeVariant::kBf16Simple;
  const int64_t pairs = int64_t(tokens) * k, num_experts = experts.num_experts;
  if (pairs <= kMoeDecodeMaxRowsPerExpert * num_experts && MoeSupports(few_tokens, experts))
    return few_tokens;
  return pairs < kMoeTiled128MinRowsPerExpert * num_experts ? MoeVariant::kTiled64
                                                            : MoeVariant::kTiled128;
}

size_t MoeWorkspaceBytes(int tokens, int k, int num_experts, int hidden, int intermediate) {
  return Carve(nullptr, tokens, k, num_experts, hidden, intermediate).bytes;
}

const float* MoePairOutputs(const void* workspace, int tokens, int k, int num_experts, int hidden,
                            int intermediate) {
  return Carve(const_cast<void*>(workspace), tokens, k, num_experts, hidden, intermediate).y;
}

namespace {

// LaunchMoeExperts, and with `router` its FromLogits form: the router's top-k first, in the
// routing step's CTA for few tokens, else by RouterTopK's kernel.
Status RunMoe(const MoeDeviceExperts& experts, const __nv_bfloat16* x, int tokens,
              const int32_t* indices, const float* weights, int k, float* out, void* workspace,
              size_t workspace_bytes, cudaStream_t stream, MoeVariant variant,
              const moe::FusedTopK* router) {
  const int num_experts = experts.num_experts, dim = experts.hidden, inter = experts.intermediate;
  if (num_experts <= 0 || num_experts > moe::kMaxRoutingExperts)
    return InvalidArgument("MoE: num_experts = {} (1..{})", num_experts, moe::kMaxRoutingExperts);
  if (dim <= 0 || dim % 32 != 0) return InvalidArgument("MoE: hidden = {} (a multiple of 32)", dim);
  if (inter <= 0 || inter % 32 != 0)
    return InvalidArgument("MoE: intermediate = {} (a multiple of 32)", inter);
  if (tokens < 0) return InvalidArgument("MoE: tokens = {}", tokens);
  if (k <= 0 || k > num_experts) return InvalidArgument("MoE: k = {} (1..{})", k, num_experts);
  if (tokens == 0) return OkStatus();
  if (x == nullptr || indices == nullptr || weights == nullptr)
    return InvalidArgument("MoE: null x, indices or weights");
  if (variant == MoeVariant::kAuto) variant = SelectMoeVariant(experts, tokens, k);
  if (!MoeSupports(variant, experts))
    return InvalidArgument("MoE: variant {} does not support these experts",
                           MoeVariantName(variant));
  const Workspace ws = Carve(workspace, tokens, k, num_experts, dim, inter);
  if (workspace == nullptr || workspace_bytes < ws.bytes)
    return InvalidArgument("MoE: workspace of {} bytes, needs {}", workspace_bytes, ws.bytes);

  // Fused with the routing step only where it sorts (MXFP4) and one CTA has warps enough.
  const bool fuse_router =
      router != nullptr && variant != MoeVariant::kBf16Simple && tokens <= kMoeFusedRouterMaxTokens;
  if (router != nullptr && !fuse_router)
    ATOM_RETURN_IF_ERROR(RouterTopK(router->logits, tokens, num_experts, k, router->indices,
                                    router->weights, stream));

  if (variant == MoeVariant::kBf16Simple) {
    ATOM_RETURN_IF_ERROR(moe::LaunchBf16Experts(experts, x, tokens, indices, k, ws.y, stream));
    return out == nullptr ? OkStatus()
                          : moe::LaunchCombine(ws.y, weights, tokens, k, dim, out, stream);
  }
  if (experts.gate_up_codes == nullptr || experts.down_codes == nullptr)
    return InvalidArgument("MoE: MXFP4 experts without device codes");

  const int tile_rows = variant == MoeVariant::kTiled64 ? 64 : 128;
  ATOM_RETURN_IF_ERROR(
      fuse_router
          ? moe::LaunchRoutingWithTopK(*router, tokens, num_experts, tile_rows, ws.routing, stream)
          : moe::LaunchRouting(indices, tokens * k, num_experts, tile_rows, ws.routing, stream));
  moe::GemmArgs g;
  g.wide = experts.wide_scales;
  g.num_experts = num_experts;
  g.k = k;
  g.tokens = tokens;
  g.limit = experts.swiglu_limit;
  g.alpha = experts.swiglu_alpha;
  g.offsets = ws.routing.offsets;
  g.tile_offsets = ws.routing.tile_offsets;
  g.active = ws.routing.active;
  g.num_active = ws.routing.num_active;
  g.slots = ws.routing.slots;
  g.sorted = ws.routing.sorted;
  auto run = [&](const moe::GemmArgs& args) {
    switch (variant) {
      case MoeVariant::kDecode:
        return moe::LaunchDecodeGemm(args, stream);
      case MoeVariant::kStream:
        return moe::LaunchStreamGemm(args, stream);
      case MoeVariant::kStreamTma:
        return moe::LaunchStreamTmaGemm(args, stream);
      default:
        return moe::LaunchTiledGemm(args, tile_rows, stream);
    }
  };

  moe::GemmArgs gate_up = g;
  gate_up.gate_up = true;
  gate_up.codes = experts.gate_up_codes;
  gate_up.scales = experts.gate_up_scales;
  gate_up.bias = experts.gate_up_bias;
  gate_up.rows = 2 * inter;
  gate_up.cols = dim;
  gate_up.in = x;
  gate_up.act = ws.act;
  ATOM_RETURN_IF_ERROR(run(gate_up));

  moe::GemmArgs down = g;
  down.gate_up = false;
  down.codes = experts.down_codes;
  down.scales = experts.down_scales;
  down.bias = experts.down_bias;
  down.rows = dim;
  down.cols = inter;
  down.in = ws.act;
  down.y = ws.y;
  ATOM_RETURN_IF_ERROR(run(down));

  if (out == nullptr) return OkStatus();
  return moe::LaunchCombine(ws.y, weights, tokens, k, dim, out, stream);
}

}  // namespace

Status LaunchMoeExperts(const MoeDeviceExperts& experts, const __nv_bfloat16* x, int tokens,
                        const int32_t* indices, const float* weights, int k, float* out,
                        void* workspace, size_t workspace_bytes, cudaStream_t stream,
                        MoeVariant variant) {
  return RunMoe(experts, x, tokens, indices, weights, k, out, workspace, workspace_bytes, stream,
                variant, nullptr);
}

Status LaunchMoeExpertsFromLogits(const MoeDeviceExperts& experts, const __nv_bfloat16* x,
                                  int tokens, const float* router_logits, int k, int32_t* indices,
                                  float* weights, float* out, void* workspace,
                                  size_t workspace_bytes, cudaStream_t stream, MoeVariant variant) {
  // The routing step or RouterTopK checks the router's arguments.
  moe::FusedTopK router;
  router.logits = router_logits;
  router.k = k;
  router.indices = indices;
  router.weights = weights;
  return RunMoe(experts, x, tokens, indices, weights, k, out, workspace, workspace_bytes, stream,
                variant, &router);
}

}  // namespace atom::cuda
