// Greedy sampling on the GPU: argmax over f32 logits, for steps whose every request is plain
// greedy, so that a decode step need not copy [B, 201088] logits to the host. (Every other
// SamplingParams option: backends/cuda/sample_rows.h.) One portable variant (sm_80 and later).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

// Device scratch ArgmaxRows needs for `rows` rows (one 64-bit word per row).
inline size_t ArgmaxWorkspaceBytes(int64_t rows) { return size_t(rows) * sizeof(uint64_t); }

// out[r] = the index of the largest logits[r, v] over v < vocab, exactly as the engine's host
// GreedySample (engine/sampler.h): ties go to the lowest index, NaN never wins, and a row with
// no value above -inf gives 0.
// logits: f32 [rows, ld] (ld >= vocab; row r starts at logits + r * ld); out: i32 [rows];
// workspace: ArgmaxWorkspaceBytes(rows) bytes; all device memory. Each row is split over many
// blocks (so that one row still fills the GPU), which combine with 64-bit atomicMax on
// (ordered value, inverted index) in `workspace`; the launcher clears the workspace with
// cudaMemsetAsync, then a second small kernel writes out. Three stream operations, no
// allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument.
Status ArgmaxRows(const float* logits, int64_t rows, int64_t vocab, int64_t ld, int32_t* out,
                  void* workspace, cudaStream_t stream);

}  // namespace atom::cuda
