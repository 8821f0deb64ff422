// Kernel selection for the CUDA backend: for each op the GPU model runs, an ordered table of
// variants (best first) with predicates over the device and the model (architecture, whether
// the tuned sm_90a code is in the build, shared-memory limit, dtypes, shape limits). The model
// selects once, at load; the start-up log prints one line per op with the chosen variant and why
// the better ones were skipped; ATOM_<OP>_KERNEL=<variant> forces one (ops/variant_table.h).
//
// Plain C++ (no CUDA), so selection and its fallbacks are unit-tested on machines without a GPU.
// The variants' kernels live in backends/cuda; docs/kernels.md lists them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "ops/variant_table.h"

namespace atom::ops {

// What CUDA selection may look at: the device as queried (cuda::DeviceInfo), and the model.
struct CudaKernelContext {
  int sm_arch = 0;            // compute capability × 10 (90 for Hopper)
  int loaded_image_arch = 0;  // __CUDA_ARCH__ of the code the runtime loaded: 900 only when the
                              // build has sm_90a code (ATOM_CUDA_TUNED) and the device is sm_90
  int max_shared_memory_per_block = 0;  // opt-in limit, bytes
  bool mxfp4_experts = true;            // else bf16 experts
  int head_dim = 0;
  int q_heads_per_kv_head = 0;
  DType kv_cache_dtype = DType::kBF16;
};

// The MoE expert kernels for steps with few tokens per expert (the per-step rule in
// backends/cuda/moe.h hands larger steps to the tiled GEMMs).
enum class CudaMoeKernel {
  kStreamTma,  // sm_90a: weights streamed by bulk copies (TMA) into per-warp shared memory
  kStream,     // weights streamed through registers
  kDecode,     // weights staged per CTA with cp.async
  kBf16,       // bf16 experts: CUDA-core dots
};
enum class CudaKvWriteKernel { kBf16Cache, kFp8Cache };
// Dense layers (qkv, o, router, unembedding).
enum class CudaLinearKernel {
  kGemvFewTokens,  // a streaming GEMV where it beats cuBLASLt (steps of 1-4 tokens; the router
                   // up to 8), else cuBLASLt
  kCublasLt,       // cuBLASLt for every step
};

// The choices the model acts on; ops with one variant have nothing to act on.
struct CudaKernels {
  CudaMoeKernel moe_experts = CudaMoeKernel::kStream;
  CudaLinearKernel linear = CudaLinearKernel::kCublasLt;
  CudaKvWriteKernel rope_write_kv = CudaKvWriteKernel::kBf16Cache;
};

struct CudaKernelSelection {
  CudaKernels kernels;
  std::vector<KernelChoice> choices;  // one per op, in a fixed order
};

// Shared memory per CTA the sm_90a MoE kernel needs (= moe::StreamTmaSharedBytes() of
// backends/cuda/moe_stream_tma.cu; a gpu test checks they agree).
inline constexpr int kMoeStreamTmaSharedBytes = 4 * 2 * (4 * 1024 + 256) + 64;

// Chooses every CUDA op's variant. Fails, naming the op, when an override names an unknown
// variant or one that does not apply, or when no variant applies (e.g. head_dim 96).
StatusOr<CudaKernelSelection> SelectCudaKernels(const CudaKernelContext& ctx,
                                                const EnvLookup& env = ProcessEnv());

// Every variant name of a CUDA op, in preference order (help texts and tests).
std::vector<std::string> CudaKernelVariantNames(std::string_view op);

}  // namespace atom::ops
