// gpt-oss (GptOssForCausalLM): pre-norm decoder with GQA attention, learned sinks, alternating
// sliding-window and full layers, YaRN RoPE and a top-k MoE of clamped-SwiGLU experts stored as
// MXFP4 (or BF16). The math is spec §4; weights are viewed in place in the checkpoint.
#pragma once

#include <memory>

#include "models/checkpoint.h"
#include "models/model.h"

namespace atom {

// Checks `config` against what gpt-oss needs and every tensor of `checkpoint` against the shapes
// the config implies; errors name the field, or the tensor and its file.
StatusOr<std::unique_ptr<Model>> CreateGptOss(ModelConfig config, Checkpoint checkpoint,
                                              ops::KernelSelection kernels);

// Shared with the CUDA model (models/cuda/gpt_oss_cuda.h):
// What gpt-oss needs of config.json; the error names the field.
Status CheckGptOssConfig(const ModelConfig& config);

// One decoder layer's tensors, viewed in the checkpoint (all bf16 but the MXFP4 experts).
struct GptOssLayerWeights {
  Tensor input_norm, post_attn_norm;  // [D]
  Tensor q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, o_weight, o_bias;
  Tensor sinks;                       // [Hq]
  Tensor router_weight, router_bias;  // [E, D], [E]
  ops::ExpertWeights experts;
  int sliding_window = 0;  // 0: full attention
};
// Layer `layer` of `checkpoint`, every tensor checked against the shape `config` implies; errors
// name the tensor and its file.
StatusOr<GptOssLayerWeights> GptOssLayer(const Checkpoint& checkpoint, const ModelConfig& config,
                                         int layer);

}  // namespace atom
