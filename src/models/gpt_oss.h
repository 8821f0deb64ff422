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

}  // namespace atom
