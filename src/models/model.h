// Model: one architecture's forward pass, composed of ops (never of kernels directly).
//
// A model views its weights in the checkpoint it was loaded from (weights are re-laid out only
// where an op needs it), owns no KV memory, and keeps no per-request state: every step passes
// its batch metadata and the caller's cache explicitly. Forward is not thread-safe; the engine
// calls it from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "models/config.h"
#include "ops/attention_metadata.h"
#include "ops/kernels.h"
#include "ops/sampling_rows.h"

namespace atom {

// What a model needs from the KV cache, per layer.
struct KvCacheSpec {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::kF32;
  std::vector<int> sliding_window;  // per layer; 0 = full attention
  Device device = Device::Cpu();    // where the pools live: where the model computes
};

// The caller-owned cache: per layer, key and value tensors [num_blocks, block_size, Hkv, d].
struct KvCacheView {
  std::vector<Tensor> key;
  std::vector<Tensor> value;
};

// One step's batch: a flat list of tokens from several sequences (see AttentionMetadata).
struct ForwardBatch {
  const int32_t* token_ids = nullptr;  // [num_tokens]
  ops::AttentionMetadata attention;
  // Rows of the batch whose next-token logits are wanted, in output order.
  const int32_t* logits_indices = nullptr;
  int num_logits = 0;
  // When set (only for a model that SupportsArgmax()): write each wanted row's argmax token —
  // the lowest index of the largest logit, as GreedySample picks — to argmax[0, num_logits)
  // instead of the logits.
  int32_t* argmax = nullptr;
  // When set (only for a model that SupportsSampling(), and not with argmax): sample each wanted
  // row where the logits are, as engine/sampler.h's Sample() would (ops/sampling_rows.h), and
  // write the tokens and logprobs to sampling's outputs instead of the logits.
  // REQUIRES: sampling->num_rows == num_logits.
  const ops::SamplingRows* sampling = nullptr;
};

// Sizes and counts for `atom info`.
struct ModelSummary {
  uint64_t parameters = 0;    // MXFP4 counts two parameters per payload byte
  uint64_t tensor_bytes = 0;  // bytes of all tensors in the checkpoint
  uint64_t expert_parameters = 0;
  std::string expert_format;  // "mxfp4", "bf16" or "" for dense models
  uint64_t kv_bytes_per_token = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual KvCacheSpec kv_cache_spec() const = 0;
  virtual ModelSummary summary() const = 0;
  // The kernel chosen for each op, with the reasons.
  virtual const std::vector<ops::KernelChoice>& kernel_choices() const = 0;

  // Runs the batch through the model: writes this step's keys and values into `cache` and the
  // next-token logits of the requested rows into `logits`, f32 [num_logits, vocab_size].
  // REQUIRES: token ids in [0, vocab_size); metadata consistent with the cache (the engine
  // guarantees both).
  virtual Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                         const Tensor& logits) = 0;
  // Whether Forward can return argmax tokens instead of logits (ForwardBatch::argmax): a GPU
  // model then need not copy the logits to the host for greedy steps.
  virtual bool SupportsArgmax() const { return false; }
  // Whether Forward can sample the rows itself (ForwardBatch::sampling) for every
  // SamplingParams option: a GPU model then need not copy the logits to the host at all.
  virtual bool SupportsSampling() const { return false; }
};

}  // namespace atom
