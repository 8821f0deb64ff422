// The operator contracts. Models call ops only through these signatures (via ops::Kernels);
// every backend kernel implements one of them exactly. Shapes use T = tokens in the step,
// D = hidden size, Hq / Hkv = query / key-value heads, d = head_dim, E = experts.
//
// Activations are f32; weights are in their checkpoint dtype (bf16, or MXFP4 for experts) and are
// read in place, never expanded into a full-precision copy. All math accumulates in f32. Unless
// noted, outputs must not alias inputs. Kernels do not validate user input: the model checks
// shapes at load time and the engine checks token ids and lengths at admission.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/attention_metadata.h"

namespace atom::ops {

// RoPE with YaRN scaling, precomputed once per model (see ops/rope.h).
struct RopeTable {
  int head_dim = 0;
  std::vector<float> inv_freq;  // [head_dim / 2], ω_i of spec §4.4
  float attention_scale = 1.0f; // m: cos and sin are multiplied by it
};

struct AttentionParams {
  float scale = 1.0f;      // multiplies q·k (1/sqrt(d))
  int sliding_window = 0;  // > 0: a query at position p sees keys in (p - window, p]; 0: all <= p
};

enum class ExpertFormat { kMxfp4, kBf16 };

// The experts of one MoE layer, viewing checkpoint memory.
struct ExpertWeights {
  ExpertFormat format = ExpertFormat::kMxfp4;
  int num_experts = 0;   // E
  int hidden = 0;        // D
  int intermediate = 0;  // I; the fused gate/up projection has 2I outputs, interleaved
                         // (output 2j is the gate of channel j, 2j + 1 its up)
  float swiglu_limit = 7.0f;
  float swiglu_alpha = 1.702f;
  // kMxfp4 ([out, in] matrices, spec §3.5; needs D % 32 == 0 and I % 32 == 0):
  //   gate_up_blocks u8 [E, 2I, D/32, 16], gate_up_scales u8 [E, 2I, D/32]
  //   down_blocks    u8 [E, D, I/32, 16],  down_scales    u8 [E, D, I/32]
  // kBf16 (Hugging Face [in, out] layout):
  //   gate_up bf16 [E, D, 2I], down bf16 [E, I, D]
  Tensor gate_up_blocks, gate_up_scales, down_blocks, down_scales;
  Tensor gate_up, down;
  Tensor gate_up_bias;  // bf16 [E, 2I]
  Tensor down_bias;     // bf16 [E, D]
};

// out[t] = table[ids[t]] as f32. table: bf16 or f32 [V, D]; out: f32 [n, D].
// REQUIRES: 0 <= ids[t] < V.
using EmbeddingFn = void(const Tensor& table, const int32_t* ids, const Tensor& out);

// out = x / sqrt(mean(x²) + eps) * gain, per row. x, out: f32 [T, D] (may alias); gain: bf16 [D].
using RmsNormFn = void(const Tensor& x, const Tensor& gain, float eps, const Tensor& out);

// out = x · weightᵀ + bias. x: f32 [T, in]; weight: bf16 [out, in]; bias: bf16 [out] or
// undefined; out: f32 [T, out]. Each output element's sum runs in the same order whatever T is,
// so results do not depend on what else is in the batch.
using LinearFn = void(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Tensor& out);

// x += y. Both f32 with the same shape.
using AddFn = void(const Tensor& x, const Tensor& y);

// Rotates x in place, half-split (NeoX) style: for i < d/2, with a = float(p) * inv_freq[i]
// computed as one f32 multiply, c = cos(a) * m, s = sin(a) * m:
//   x'[i] = x[i] c - x[i + d/2] s;   x'[i + d/2] = x[i + d/2] c + x[i] s.
// x: f32 [T, H, d]; positions: [T].
using RopeFn = void(const Tensor& x, const int32_t* positions, const RopeTable& table);

// Copies each token's key and value into its cache slot. k, v: f32 [T, Hkv, d];
// key_cache, value_cache: f32 [num_blocks, block_size, Hkv, d]; slot_mapping: [T], where a
// negative slot marks a padding token whose key and value are not stored.
using WriteKvFn = void(const Tensor& k, const Tensor& v, const int64_t* slot_mapping,
                       const Tensor& key_cache, const Tensor& value_cache);

// Causal attention of every query token over its sequence's cached keys (GQA: query head h uses
// KV head h / (Hq / Hkv)), with an optional learned sink logit per query head that joins the
// softmax denominator but contributes no value (spec §4.5):
//   z_j = scale · q·k_j over visible j;  M = max(sink, max z);
//   out = Σ_j exp(z_j − M) v_j / (exp(sink − M) + Σ_j exp(z_j − M)).
// The query at position p sees keys at positions j <= p, and with a window W only p − W < j.
// Keys are read through the block table: the key at position j of sequence s sits in slot
// block_tables[s][j / block_size] * block_size + j % block_size.
// REQUIRES: for token i of sequence s, positions[i] < seq_lens[s], and the keys and values of
// every position <= positions[i] are in the cache (this step's already written).
// q, out: f32 [T, Hq, d]; caches as for WriteKvFn; sinks: bf16 [Hq] or undefined (no sink).
using PagedAttentionFn = void(const Tensor& q, const Tensor& key_cache, const Tensor& value_cache,
                              const AttentionMetadata& md, const Tensor& sinks,
                              const AttentionParams& params, const Tensor& out);

// Per row: the k largest logits in descending order (ties: lower index first) and the softmax
// over just those k. logits: f32 [T, E]; indices: i32 [T, k]; weights: f32 [T, k].
using RouterTopKFn = void(const Tensor& logits, int k, const Tensor& indices,
                          const Tensor& weights);

// out[t] = Σ_i weights[t,i] · expert_{indices[t,i]}(x[t]), where for expert e
//   y = W1_e x + b1_e; g = min(y[0::2], limit); u = clamp(y[1::2], −limit, limit);
//   a = g · sigmoid(alpha · g) · (u + 1);  expert_e(x) = W2_e a + b2_e   (spec §4.7).
// The k weighted expert outputs are summed in slot order i = 0..k-1, starting from zero, so
// every backend combines in the same order.
// x, out: f32 [T, D]; indices: i32 [T, k]; weights: f32 [T, k].
using MoeExpertsFn = void(const Tensor& x, const ExpertWeights& experts, const Tensor& indices,
                          const Tensor& weights, const Tensor& out);

}  // namespace atom::ops
