// ModelConfig: a Hugging Face `config.json`, with every field gpt-oss uses (spec §2), and
// GenerationConfig: `generation_config.json`.
//
// Parsing checks types and internal consistency (e.g. one layer type per layer) and names the
// file and field in every error. Architecture-specific requirements (which fields a model
// needs, shape limits) are checked by the model when it loads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "ops/rope.h"

namespace atom {

enum class LayerType { kFullAttention, kSlidingAttention };

struct QuantizationConfig {
  std::string quant_method;                         // "mxfp4"
  std::vector<std::string> modules_to_not_convert;  // glob patterns of unquantized modules
};

struct ModelConfig {
  std::string architecture;  // the first of `architectures`, e.g. "GptOssForCausalLM"
  std::string model_type;    // "gpt_oss"

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  bool attention_bias = false;
  double attention_dropout = 0.0;

  int64_t num_local_experts = 0;    // 0 for dense models
  int64_t num_experts_per_tok = 0;  // HF name; `experts_per_token` is accepted as well

  int64_t sliding_window = 0;  // 0: none
  std::vector<LayerType> layer_types;  // one per layer

  double rope_theta = 10000.0;
  ops::RopeScaling rope_scaling;  // from `rope_scaling` or the newer `rope_parameters`
  int64_t initial_context_length = 0;
  int64_t max_position_embeddings = 0;

  double rms_norm_eps = 1e-6;
  double swiglu_limit = 0.0;
  std::string hidden_act;

  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> bos_token_id;
  bool tie_word_embeddings = false;

  // Training-only fields, kept so `atom info` can show the whole file faithfully.
  double router_aux_loss_coef = 0.0;
  bool output_router_logits = false;
  double initializer_range = 0.0;
  bool use_cache = true;
  std::string torch_dtype;
  std::string transformers_version;

  std::optional<QuantizationConfig> quantization;

  bool is_sliding(int layer) const {
    return layer_types[layer] == LayerType::kSlidingAttention;
  }
};

struct GenerationConfig {
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  bool do_sample = false;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
};

// Parses `dir`/config.json.
StatusOr<ModelConfig> LoadModelConfig(const std::string& dir);
// Parses config JSON text; `where` names its origin in errors.
StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& where);

// Parses `dir`/generation_config.json; a missing file gives the defaults.
StatusOr<GenerationConfig> LoadGenerationConfig(const std::string& dir);
StatusOr<GenerationConfig> ParseGenerationConfig(const std::string& json_text,
                                                 const std::string& where);

}  // namespace atom
