// CPU kernels for every op of ops/op_signatures.h, in two variants:
//   cpu::       f32 math, threaded over the global ThreadPool, written to vectorise;
//   cpu::ref::  naive single-threaded loops that read as the spec does: the baseline every
//               other kernel (CPU or CUDA) is tested against, and the last-resort fallback.
// Both follow the contracts in op_signatures.h exactly.
#pragma once

#include "ops/op_signatures.h"

namespace atom::cpu {

void Embedding(const Tensor& table, const int32_t* ids, const Tensor& out);
void RmsNorm(const Tensor& x, const Tensor& gain, float eps, const Tensor& out);
void Linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
void Add(const Tensor& x, const Tensor& y);
void Rope(const Tensor& x, const int32_t* positions, const ops::RopeTable& table);
void WriteKv(const Tensor& k, const Tensor& v, const int64_t* slot_mapping,
             const Tensor& key_cache, const Tensor& value_cache);
void PagedAttention(const Tensor& q, const Tensor& key_cache, const Tensor& value_cache,
                    const ops::AttentionMetadata& md, const Tensor& sinks,
                    const ops::AttentionParams& params, const Tensor& out);
void RouterTopK(const Tensor& logits, int k, const Tensor& indices, const Tensor& weights);
void MoeExperts(const Tensor& x, const ops::ExpertWeights& experts, const Tensor& indices,
                const Tensor& weights, const Tensor& out);

namespace ref {
void Embedding(const Tensor& table, const int32_t* ids, const Tensor& out);
void RmsNorm(const Tensor& x, const Tensor& gain, float eps, const Tensor& out);
void Linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
void Add(const Tensor& x, const Tensor& y);
void Rope(const Tensor& x, const int32_t* positions, const ops::RopeTable& table);
void WriteKv(const Tensor& k, const Tensor& v, const int64_t* slot_mapping,
             const Tensor& key_cache, const Tensor& value_cache);
void PagedAttention(const Tensor& q, const Tensor& key_cache, const Tensor& value_cache,
                    const ops::AttentionMetadata& md, const Tensor& sinks,
                    const ops::AttentionParams& params, const Tensor& out);
void RouterTopK(const Tensor& logits, int k, const Tensor& indices, const Tensor& weights);
void MoeExperts(const Tensor& x, const ops::ExpertWeights& experts, const Tensor& indices,
                const Tensor& weights, const Tensor& out);
}  // namespace ref

}  // namespace atom::cpu
