// SampleRows: the engine's whole sampler (engine/sampler.h) on the GPU, over f32 logits rows that
// are already in device memory, so that a step whose requests sample with temperature, top-k,
// top-p, min-p, logit_bias, min_tokens bans, penalties or logprobs need not copy [rows, vocab]
// logits to the host. One portable variant (sm_80 and later).
//
// Semantics are Sample()'s, step by step: the row's edits (bias, then bans, then penalties, in
// PenaltyState::Apply's arithmetic) change the logits in place; temperature 0 takes the argmax
// (ties to the lowest id, NaN never wins); otherwise e_i = exp((l_i - max) * (1 / temperature))
// with the host's own exp (Cephes' polynomial, the same fused multiply-adds, 0 below -87.3), top-k
// by (logit desc, id asc), top-p by (e desc, id asc) keeping token j iff the mass ranked before it
// is < top_p * the kept mass, min-p e_i >= min_p, and the draw: the first kept token in ascending
// id order whose cumulative e exceeds u * sum(e), u = PhiloxUniform(seed, seq_index, position)
// (core/philox.h). Logprobs are the log-softmax of the RAW logits (before the edits).
//
// Exactness. Where the host's result depends on its summation order, the kernel adds in the
// host's order: the dense sums (the draw without truncation, the top-p target without top-k, the
// logprobs' normaliser) come out bit for bit, so the token is the host's exactly, given the same
// e values. Elsewhere the host adds in double and the kernel in 2^-s fixed point (s = 63 - bit
// width of vocab; 45 at 201,088), exact in any order: the two differ only when u * mass (or
// top_p * mass) lies within ~1e-13 relative of a cumulative boundary. The e values match where
// the host compiler formed the same fused multiply-adds from the exp polynomial (GCC does with
// -march=native on an FMA machine); an ulp of difference moves a boundary by ~1e-7 relative.
// Every row's result depends only on its inputs, never on the batch or its order.
//
// How: one block per row, several passes over the row (2 to 3 for temperature alone, about 8
// with top-p or top-k, 5 more for logprobs; at small batches the rows stay in L2): max; for
// top-k a three-level radix select (11, 11, 10 bits of an order-preserving key) counting
// tokens; for top-p the same weighted by fixed-point mass over the tokens above the highest of
// a few probability thresholds whose mass already reaches the target; equal keys are split by id
// with a block scan in id order; the sparse draw scans kept mass in id order, tile by tile; the
// dense draw skips whole 1024-token blocks on their sums and walks one block serially.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace atom::cuda {

// The longest top-logprob list per row (the API's limit, SamplingParams::kMaxLogprobs).
inline constexpr int kMaxSampleTopLogprobs = 20;

// One row's request, as the kernel reads it (device memory, one per row).
struct SampleRowParams {
  uint64_t seed = 0;  // the draw's coordinates (core/philox.h)
  uint64_t position = 0;
  uint32_t seq_index = 0;
  float temperature = 1.0f;  // 0: greedy (no draw)
  int32_t top_k = 0;         // <= 0 or >= vocab: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t num_logprobs = -1;  // -1: no logprobs; else the top list's length, <= 20
  // The row's edits: entries [first_edit, first_edit + num_edits) of the edit list.
  int32_t first_edit = 0;
  int32_t num_edits = 0;
};

// One change to one logit of a row, applied in kind order (all biases, then all bans, then all
// penalties), as Sample() applies them. Within a kind a row's tokens are distinct (bans may
// repeat: they are idempotent).
enum SampleEditKind : int32_t {
  kSampleEditBias = 0,     // logit += bias
  kSampleEditBan = 1,      // logit = -inf
  kSampleEditPenalty = 2,  // a token seen in the prompt or output: PenaltyState::Apply's rule
};
struct SampleEdit {
  int32_t token = 0;
  int32_t kind = kSampleEditBias;
  float bias = 0.0f;         // kSampleEditBias
  int32_t output_count = 0;  // kSampleEditPenalty: occurrences in the output so far
};

// Where the results go (device memory). Every element is written: rows without logprobs get
// logprob 0; list entries past a row's length get token -1 and logprob 0.
struct SampleRowsOutput {
  int32_t* tokens = nullptr;      // [rows]
  float* logprobs = nullptr;      // [rows]: the sampled token's raw-logit logprob
  int32_t* top_tokens = nullptr;  // [rows, kMaxSampleTopLogprobs], by logprob desc, ties id asc
  float* top_logprobs = nullptr;  // [rows, kMaxSampleTopLogprobs]
};

// Device scratch SampleRows needs: per row the host-order sums of each 1024-token block (16
// float lane sums and a double), and one float per edit (the raw logits under the edits, for
// the sampled token's logprob).
inline size_t SampleRowsWorkspaceBytes(int64_t rows, int64_t vocab, int64_t num_edits) {
  const int64_t blocks = (vocab + 1023) / 1024;
  return size_t(rows * blocks) * (sizeof(double) + 16 * sizeof(float)) +
         size_t(num_edits > 0 ? num_edits : 1) * sizeof(float);
}

// Samples every row. logits: f32 [rows, ld] (ld >= vocab), finite or -inf, OVERWRITTEN with the
// processed logits (edits applied); params [rows]; edits [num_edits]; workspace
// SampleRowsWorkspaceBytes(rows, vocab, num_edits) bytes, 8-byte aligned; all device memory.
// REQUIRES (not checked on the device): each row's edit range inside [0, num_edits); edits'
// tokens in [0, vocab) (others are skipped); num_logprobs <= kMaxSampleTopLogprobs; temperature,
// top_p, min_p and penalties in SamplingParams::Validate's ranges.
// One kernel launch, no allocation or synchronisation (graph-capturable).
// Errors: InvalidArgument naming the argument.
Status SampleRows(float* logits, int64_t rows, int64_t vocab, int64_t ld,
                  const SampleRowParams* params, const SampleEdit* edits, int64_t num_edits,
                  const SampleRowsOutput& out, void* workspace, cudaStream_t stream);

}  // namespace atom::cuda
