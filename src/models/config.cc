#include "models/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/files.h"
#include "models/json_fields.h"

namespace atom {

namespace {

StatusOr<nlohmann::json> ParseObject(const std::string& text, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("{}: not valid JSON", where);
  if (!j.is_object()) return InvalidArgument("{}: must be a JSON object", where);
  return j;
}

// `rope_scaling` (transformers <= 4.x) or `rope_parameters` (newer, may also hold rope_theta).
Status ParseRope(const JsonFields& f, ModelConfig& c) {
  ATOM_ASSIGN_OR_RETURN(std::optional<double> theta, f.OptionalNumber("rope_theta"));
  const char* key = f.Has("rope_scaling") ? "rope_scaling" : "rope_parameters";
  const nlohmann::json* rope = f.Find(key);
  if (rope != nullptr) {
    if (!rope->is_object()) return f.Error(key, "must be an object");
    JsonFields r(*rope, f.where() + ": " + key);
    if (!theta) {
      ATOM_ASSIGN_OR_RETURN(theta, r.OptionalNumber("rope_theta"));
    }
    ATOM_ASSIGN_OR_RETURN(std::optional<std::string> type, r.OptionalString("rope_type"));
    if (!type) {
    ATOM_ASSIGN_OR_RETURN(type, r.OptionalString("type"));
  }
    const std::string t = type.value_or("default");
    ops::RopeScaling& s = c.rope_scaling;
    if (t == "yarn") {
      s.type = ops::RopeType::kYarn;
      ATOM_ASSIGN_OR_RETURN(s.factor, r.Number("factor"));
      ATOM_ASSIGN_OR_RETURN(auto beta_fast, r.OptionalNumber("beta_fast"));
      ATOM_ASSIGN_OR_RETURN(auto beta_slow, r.OptionalNumber("beta_slow"));
      ATOM_ASSIGN_OR_RETURN(auto original, r.OptionalInt("original_max_position_embeddings"));
      ATOM_ASSIGN_OR_RETURN(auto truncate, r.OptionalBool("truncate"));
      ATOM_ASSIGN_OR_RETURN(s.attention_factor, r.OptionalNumber("attention_factor"));
      s.beta_fast = beta_fast.value_or(32.0);
      s.beta_slow = beta_slow.value_or(1.0);
      s.truncate = truncate.value_or(true);
      s.original_max_position_embeddings =
          int(original.value_or(c.initial_context_length > 0 ? c.initial_context_length
                                                              : c.max_position_embeddings));
    } else if (t != "default") {
      return r.Error("rope_type", "must be \"yarn\" or \"default\" (others are not supported)");
    }
  }
  c.rope_theta = theta.value_or(10000.0);
  return OkStatus();
}

Status ParseLayerTypes(const JsonFields& f, ModelConfig& c) {
  if (!f.Has("layer_types")) {
    // Models without the field: every layer full, or all sliding when a window is set.
    c.layer_types.assign(c.num_hidden_layers, c.sliding_window > 0 ? LayerType::kSlidingAttention
                                                                   : LayerType::kFullAttention);
    return OkStatus();
  }
  ATOM_ASSIGN_OR_RETURN(std::vector<std::string> names, f.StringList("layer_types"));
  if (int64_t(names.size()) != c.num_hidden_layers)
    return InvalidArgument("{}: field 'layer_types' has {} entries but num_hidden_layers is {}",
                           f.where(), names.size(), c.num_hidden_layers);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "full_attention") {
      c.layer_types.push_back(LayerType::kFullAttention);
    } else if (names[i] == "sliding_attention") {
      if (c.sliding_window <= 0)
        return InvalidArgument("{}: layer {} is sliding_attention but sliding_window is not set",
                               f.where(), i);
      c.layer_types.push_back(LayerType::kSlidingAttention);
    } else {
      return InvalidArgument(
          "{}: field 'layer_types' entry {} is \"{}\"; expected \"full_attention\" or "
          "\"sliding_attention\"",
          f.where(), i, names[i]);
    }
  }
  return OkStatus();
}

Status ParseQuantization(const JsonFields& f, ModelConfig& c) {
  const nlohmann::json* q = f.Find("quantization_config");
  if (q == nullptr) return OkStatus();
  if (!q->is_object()) return f.Error("quantization_config", "must be an object");
  JsonFields qf(*q, f.where() + ": quantization_config");
  QuantizationConfig out;
  ATOM_ASSIGN_OR_RETURN(out.quant_method, qf.String("quant_method"));
  if (qf.Has("modules_to_not_convert")) {
    ATOM_ASSIGN_OR_RETURN(out.modules_to_not_convert, qf.StringList("modules_to_not_convert"));
  }
  c.quantization = std::move(out);
  return OkStatus();
}

Status Positive(const JsonFields& f, std::string_view key, int64_t v) {
  if (v <= 0) return f.Error(key, "must be positive");
  return OkStatus();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& where) {
  ATOM_ASSIGN_OR_RETURN(nlohmann::json j, ParseObject(json_text, where));
  JsonFields f(j, where);
  ModelConfig c;

  ATOM_ASSIGN_OR_RETURN(std::vector<std::string> archs, f.StringList("architectures"));
  if (archs.empty()) return f.Error("architectures", "must name at least one architecture");
  c.architecture = archs.front();
  ATOM_ASSIGN_OR_RETURN(auto model_type, f.OptionalString("model_type"));
  c.model_type = model_type.value_or("");

  ATOM_ASSIGN_OR_RETURN(c.vocab_size, f.Int("vocab_size"));
  ATOM_ASSIGN_OR_RETURN(c.hidden_size, f.Int("hidden_size"));
  ATOM_ASSIGN_OR_RETURN(c.num_hidden_layers, f.Int("num_hidden_layers"));
  ATOM_ASSIGN_OR_RETURN(c.num_attention_heads, f.Int("num_attention_heads"));
  for (auto [key, value] : {std::pair{"vocab_size", c.vocab_size},
                            {"hidden_size", c.hidden_size},
                            {"num_hidden_layers", c.num_hidden_layers},
                            {"num_attention_heads", c.num_attention_heads}}) {
    ATOM_RETURN_IF_ERROR(Positive(f, key, value));
  }
  ATOM_ASSIGN_OR_RETURN(auto intermediate, f.OptionalInt("intermediate_size"));
  c.intermediate_size = intermediate.value_or(0);
  ATOM_ASSIGN_OR_RETURN(auto kv_heads, f.OptionalInt("num_key_value_heads"));
  c.num_key_value_heads = kv_heads.value_or(c.num_attention_heads);
  ATOM_RETURN_IF_ERROR(Positive(f, "num_key_value_heads", c.num_key_value_heads));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return InvalidArgument("{}: num_attention_heads ({}) is not a multiple of "
                           "num_key_value_heads ({})",
                           where, c.num_attention_heads, c.num_key_value_heads);
  ATOM_ASSIGN_OR_RETURN(auto head_dim, f.OptionalInt("head_dim"));
  c.head_dim = head_dim.value_or(c.hidden_size / c.num_attention_heads);
  ATOM_RETURN_IF_ERROR(Positive(f, "head_dim", c.head_dim));
  ATOM_ASSIGN_OR_RETURN(auto attention_bias, f.OptionalBool("attention_bias"));
  c.attention_bias = attention_bias.value_or(false);
  ATOM_ASSIGN_OR_RETURN(auto dropout, f.OptionalNumber("attention_dropout"));
  c.attention_dropout = dropout.value_or(0.0);

  ATOM_ASSIGN_OR_RETURN(auto experts, f.OptionalInt("num_local_experts"));
  if (!experts) {
    ATOM_ASSIGN_OR_RETURN(experts, f.OptionalInt("num_experts"));
  }
  c.num_local_experts = experts.value_or(0);
  ATOM_ASSIGN_OR_RETURN(auto per_tok, f.OptionalInt("num_experts_per_tok"));
  ATOM_ASSIGN_OR_RETURN(auto per_tok_alt, f.OptionalInt("experts_per_token"));
  if (per_tok && per_tok_alt && *per_tok != *per_tok_alt)
    return InvalidArgument("{}: num_experts_per_tok ({}) and experts_per_token ({}) disagree",
                           where, *per_tok, *per_tok_alt);
  c.num_experts_per_tok = per_tok.value_or(per_tok_alt.value_or(0));
  if (c.num_local_experts > 0 &&
      (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.num_local_experts))
    return InvalidArgument("{}: num_experts_per_tok ({}) must be in [1, num_local_experts = {}]",
                           where, c.num_experts_per_tok, c.num_local_experts);

  ATOM_ASSIGN_OR_RETURN(auto window, f.OptionalInt("sliding_window"));
  c.sliding_window = window.value_or(0);
  if (c.sliding_window < 0) return f.Error("sliding_window", "must not be negative");
  ATOM_ASSIGN_OR_RETURN(auto initial_ctx, f.OptionalInt("initial_context_length"));
  c.initial_context_length = initial_ctx.value_or(0);
  ATOM_ASSIGN_OR_RETURN(c.max_position_embeddings, f.Int("max_position_embeddings"));
  ATOM_RETURN_IF_ERROR(Positive(f, "max_position_embeddings", c.max_position_embeddings));
  ATOM_RETURN_IF_ERROR(ParseLayerTypes(f, c));
  ATOM_RETURN_IF_ERROR(ParseRope(f, c));

  ATOM_ASSIGN_OR_RETURN(auto eps, f.OptionalNumber("rms_norm_eps"));
  c.rms_norm_eps = eps.value_or(1e-6);
  ATOM_ASSIGN_OR_RETURN(auto limit, f.OptionalNumber("swiglu_limit"));
  c.swiglu_limit = limit.value_or(0.0);
  ATOM_ASSIGN_OR_RETURN(auto act, f.OptionalString("hidden_act"));
  c.hidden_act = act.value_or("");

  if (f.Has("eos_token_id")) {
    ATOM_ASSIGN_OR_RETURN(c.eos_token_ids, f.IntOrIntList("eos_token_id"));
  }
  ATOM_ASSIGN_OR_RETURN(c.pad_token_id, f.OptionalInt("pad_token_id"));
  ATOM_ASSIGN_OR_RETURN(c.bos_token_id, f.OptionalInt("bos_token_id"));
  ATOM_ASSIGN_OR_RETURN(auto tie, f.OptionalBool("tie_word_embeddings"));
  c.tie_word_embeddings = tie.value_or(false);

  ATOM_ASSIGN_OR_RETURN(auto aux, f.OptionalNumber("router_aux_loss_coef"));
  c.router_aux_loss_coef = aux.value_or(0.0);
  ATOM_ASSIGN_OR_RETURN(auto router_logits, f.OptionalBool("output_router_logits"));
  c.output_router_logits = router_logits.value_or(false);
  ATOM_ASSIGN_OR_RETURN(auto init_range, f.OptionalNumber("initializer_range"));
  c.initializer_range = init_range.value_or(0.0);
  ATOM_ASSIGN_OR_RETURN(auto use_cache, f.OptionalBool("use_cache"));
  c.use_cache = use_cache.value_or(true);
  ATOM_ASSIGN_OR_RETURN(auto dtype, f.OptionalString("torch_dtype"));
  if (!dtype) {
    ATOM_ASSIGN_OR_RETURN(dtype, f.OptionalString("dtype"));
  }
  c.torch_dtype = dtype.value_or("");
  ATOM_ASSIGN_OR_RETURN(auto tf_version, f.OptionalString("transformers_version"));
  c.transformers_version = tf_version.value_or("");

  ATOM_RETURN_IF_ERROR(ParseQuantization(f, c));
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  ATOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelConfig(text, path);
}

StatusOr<GenerationConfig> ParseGenerationConfig(const std::string& json_text,
                                                 const std::string& where) {
  ATOM_ASSIGN_OR_RETURN(nlohmann::json j, ParseObject(json_text, where));
  JsonFields f(j, where);
  GenerationConfig g;
  ATOM_ASSIGN_OR_RETURN(g.bos_token_id, f.OptionalInt("bos_token_id"));
  if (f.Has("eos_token_id")) {
    ATOM_ASSIGN_OR_RETURN(g.eos_token_ids, f.IntOrIntList("eos_token_id"));
  }
  ATOM_ASSIGN_OR_RETURN(g.pad_token_id, f.OptionalInt("pad_token_id"));
  ATOM_ASSIGN_OR_RETURN(auto do_sample, f.OptionalBool("do_sample"));
  g.do_sample = do_sample.value_or(false);
  ATOM_ASSIGN_OR_RETURN(g.temperature, f.OptionalNumber("temperature"));
  ATOM_ASSIGN_OR_RETURN(g.top_p, f.OptionalNumber("top_p"));
  ATOM_ASSIGN_OR_RETURN(g.top_k, f.OptionalInt("top_k"));
  return g;
}

StatusOr<GenerationConfig> LoadGenerationConfig(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
  if (!std::filesystem::exists(path)) return GenerationConfig{};
  ATOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseGenerationConfig(text, path);
}

}  // namespace atom
