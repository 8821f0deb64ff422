// gpt-oss on one NVIDIA GPU: the same model as models/gpt_oss.h (spec §4), with weights uploaded
// once (MXFP4 experts stay 4-bit, re-laid out for the MoE kernels), a bf16 or fp8 e4m3 KV cache
// in device memory, bf16 activations with an f32 residual stream, and every op a CUDA kernel
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
#include "ops/variant_table.h"

namespace atom {

// Loads `checkpoint` onto the current CUDA device. Each op's kernel variant is selected for the
// device and the model (ops/cuda_kernel_selection.h; ATOM_<OP>_KERNEL overrides read from `env`).
// `max_num_batched_tokens` sizes the step's fixed activation buffers (a larger step grows them).
// Decode steps (one token per sequence, at most 256 sequences) run as CUDA graphs captured per
// power-of-two (batch, context) bucket, unless `enforce_eager`. `kv_cache_dtype` (kBF16 or
// kF8E4M3, per-layer scales 1.0) is the dtype of the KV cache its kv_cache_spec() asks for, and
// the only one Forward accepts. Errors name the tensor, the device memory that ran out, an
// unsupported KV cache dtype, or the op no kernel variant applies to.
StatusOr<std::unique_ptr<Model>> CreateGptOssCuda(ModelConfig config, Checkpoint checkpoint,
                                                  int max_num_batched_tokens, bool enforce_eager,
                                                  DType kv_cache_dtype = DType::kBF16,
                                                  const ops::EnvLookup& env = ops::ProcessEnv());

}  // namespace atom
