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
// Layer `layer`'s experts viewed in `checkpoint` (MXFP4 blocks and scales, or bf16 matrices, and
// the biases), checked against the shapes `config` implies.
StatusOr<ops::ExpertWeights> GptOssExpertWeights(const Checkpoint& checkpoint,
                                                 const ModelConfig& config, int layer);

}  // namespace atom
