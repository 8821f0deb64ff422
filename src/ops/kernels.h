// Kernel selection: for each op an ordered table of variants, each with a predicate saying
// whether it applies to the device. The first variant that applies wins; the ones after it are
// fallbacks. Selection happens once, when a model loads, and every choice is reported with the
// reasons the better variants were skipped (the engine logs one line per op; `atom info` prints
// them). ATOM_<OP>_KERNEL=<variant> (e.g. ATOM_LINEAR_KERNEL=cpu_reference) forces a variant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ops/op_signatures.h"
#include "ops/variant_table.h"

namespace atom::ops {

// What selection may look at. Tile shapes and architecture gates come from here, never from a
// GPU's name.
struct KernelContext {
  Device device = Device::Cpu();
  int sm_arch = 0;  // CUDA compute capability × 10 (e.g. 90); 0 on the CPU
};

// The chosen function of every op. Models call ops only through this table.
struct Kernels {
  EmbeddingFn* embedding = nullptr;
  RmsNormFn* rms_norm = nullptr;
  LinearFn* linear = nullptr;
  AddFn* add = nullptr;
  RopeFn* rope = nullptr;
  WriteKvFn* write_kv = nullptr;
  PagedAttentionFn* paged_attention = nullptr;
  RouterTopKFn* router_topk = nullptr;
  MoeExpertsFn* moe_experts = nullptr;
};

struct KernelSelection {
  Kernels kernels;
  std::vector<KernelChoice> choices;  // one per op, in a fixed order
};

// Chooses every op's kernel for `ctx`. Fails (naming the op and the variants that exist) when an
// override names an unknown variant or one that does not apply, or when no variant applies.
StatusOr<KernelSelection> SelectKernels(const KernelContext& ctx,
                                        const EnvLookup& env = ProcessEnv());

// Every variant name of an op, in preference order (for help texts and tests).
std::vector<std::string> KernelVariantNames(std::string_view op);

}  // namespace atom::ops
