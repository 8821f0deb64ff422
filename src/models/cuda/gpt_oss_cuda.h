// gpt-oss on one NVIDIA GPU: the same model as models/gpt_oss.h (spec §4), with weights uploaded
// once (MXFP4 experts stay 4-bit, re-laid out for the MoE kernels), a bf16 KV cache in device
// memory, bf16 activations with an f32 residual stream, and every op a CUDA kernel
// (backends/cuda) or a cuBLASLt GEMM.
//
// One step: embedding → per layer [fused add+RMSNorm → qkv GEMM → RoPE + KV write → paged
// attention → o GEMM → fused add+RMSNorm → router GEMM → top-k → MoE] → final norm → the wanted
// rows → unembedding GEMM; the logits rows are copied back to the host for sampling, or, when
// the engine asks for argmax tokens (plain greedy steps), only those, or, when it asks the model
// to sample (ForwardBatch::sampling), the rows are sampled on the device (backends/cuda/
// sample_rows.h, after the graph replay) and only the tokens and logprobs come back.
// A decode step is one CUDA graph replay: its padded metadata is copied into fixed device
// buffers first, and nothing inside the graph synchronises with the host. Graphs are captured
// again when a step buffer moves or the KV cache is another one.
#pragma once

#include <memory>

#include "models/checkpoint.h"
#include "models/model.h"

namespace atom {

// Loads `checkpoint` onto the current CUDA device. `max_num_batched_tokens` sizes the step's
// fixed activation buffers (a larger step grows them). Decode steps (one token per sequence, at
// most 256 sequences) run as CUDA graphs captured per power-of-two (batch, context) bucket, unless
// `enforce_eager`. Errors name the tensor, or the device memory that ran out.
StatusOr<std::unique_ptr<Model>> CreateGptOssCuda(ModelConfig config, Checkpoint checkpoint,
                                                  int max_num_batched_tokens, bool enforce_eager);

}  // namespace atom
