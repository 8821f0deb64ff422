// MoE router top-k + softmax on the GPU: ops::RouterTopKFn (src/ops/op_signatures.h), one warp
// per token. One portable variant (sm_80 and later).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

inline constexpr int kRouterMaxExperts = 256;
inline constexpr int kRouterMaxTopK = 32;

// Per row t < num_tokens: indices[t] = the k largest logits[t] in descending order (ties: the
// lower expert index first), weights[t] = softmax over just those k logits (exp(l_i - l_0),
// summed in slot order, as cpu::ref::RouterTopK). A NaN logit ranks below every number, so the
// k indices are always distinct experts in [0, num_experts).
// logits: f32 [num_tokens, num_experts]; indices: i32 [num_tokens, k]; weights: f32
// [num_tokens, k]; all device memory. Same contract as RouterTopKFn; the exponentials use the
// device's expf (within 2 ulp of the CPU's).
// REQUIRES 1 <= k <= min(num_experts, kRouterMaxTopK), num_experts <= kRouterMaxExperts.
// No allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument.
Status RouterTopK(const float* logits, int64_t num_tokens, int num_experts, int k, int32_t* indices,
                  float* weights, cudaStream_t stream);

}  // namespace atom::cuda
