// CorpusLookupForCausalLM: a deterministic test model with no neural network. Its one "weight" is
// a corpus of token ids; it predicts the token that followed the longest suffix of the context
// found in the corpus (the first such occurrence), and EOS where nothing follows.
//
// Trained on Harmony transcripts, it answers the way a real model would (reasoning, tool calls,
// answers after tool results), which lets the server's end-to-end tests drive whole protocols —
// tool-call round trips, reasoning_content — through the real engine, sampler and parser. It keeps
// each sequence's tokens in its KV cache (one f32 per position), like any model keeps its keys.
//
// Checkpoint: model.safetensors with `corpus` i32 [N]; config.json with architectures
// ["CorpusLookupForCausalLM"], vocab_size, max_position_embeddings, eos_token_id, and
// hidden_size = num_hidden_layers = num_attention_heads = 1.
#pragma once

#include <memory>

#include "models/checkpoint.h"
#include "models/model.h"

namespace atom {

StatusOr<std::unique_ptr<Model>> CreateCorpusLookup(ModelConfig config, Checkpoint checkpoint,
                                                    ops::KernelSelection kernels);

}  // namespace atom
