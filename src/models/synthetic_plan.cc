// PlanSyntheticGptOss: the presets' configs and the tensor list (names, shapes, dtypes, init,
// shard) of a synthetic gpt-oss checkpoint.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "models/synthetic.h"

namespace atom {
namespace {

using synthetic::InitKind;
using synthetic::TensorInit;

struct Dims {
  int64_t vocab = 0, hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0,
          head_dim = 64, experts = 0, top_k = 4, window = 128;
  int64_t eos = 200002, pad = 199999;
  int64_t max_layers = 0;  // > 0: `layers` may only cut (the real models)
  bool real_vocab = true;
  bool fixture_style = false;  // the tiny fixtures' config and generation_config
};

StatusOr<Dims> PresetDims(const std::string& preset) {
  Dims d;
  if (preset == "tiny") {
    d = {.vocab = 1024,
         .hidden = 96,
         .intermediate = 160,
         .layers = 4,
         .heads = 4,
         .kv_heads = 2,
         .experts = 8,
         .window = 8,
         .eos = 1022,
         .pad = 1023};
    d.real_vocab = false;
    d.fixture_style = true;
  } else if (preset == "demo") {
    d = {.vocab = 201088,
         .hidden = 64,
         .intermediate = 64,
         .layers = 4,
         .heads = 4,
         .kv_heads = 2,
         .experts = 8};
  } else if (preset == "20b" || preset == "120b") {
    const bool big = preset == "120b";
    d = {.vocab = 201088,
         .hidden = 2880,
         .intermediate = 2880,
         .layers = big ? 36 : 24,
         .heads = 64,
         .kv_heads = 8,
         .experts = big ? 128 : 32};
    d.max_layers = d.layers;
  } else {
    return InvalidArgument("unknown synthetic preset '{}' (supported: tiny, demo, 20b, 120b)",
                           preset);
  }
  return d;
}

// config.json in the real file's (alphabetical) field order.
std::string ConfigJson(const Dims& d, bool mxfp4) {
  nlohmann::ordered_json j;
  j["architectures"] = {"GptOssForCausalLM"};
  j["attention_bias"] = true;
  j["attention_dropout"] = 0.0;
  j["eos_token_id"] = d.eos;
  j["experts_per_token"] = d.top_k;
  j["head_dim"] = d.head_dim;
  j["hidden_act"] = "silu";
  j["hidden_size"] = d.hidden;
  j["initial_context_length"] = 4096;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = d.intermediate;
  auto types = nlohmann::ordered_json::array();
  for (int64_t i = 0; i < d.layers; ++i)
    types.push_back(i % 2 == 0 ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  j["max_position_embeddings"] = 131072;
  j["model_type"] = "gpt_oss";
  j["num_attention_heads"] = d.heads;
  j["num_experts_per_tok"] = d.top_k;
  j["num_hidden_layers"] = d.layers;
  j["num_key_value_heads"] = d.kv_heads;
  j["num_local_experts"] = d.experts;
  j["output_router_logits"] = false;
  j["pad_token_id"] = d.pad;
  if (mxfp4) {
    j["quantization_config"] = {{"modules_to_not_convert",
                                 {"model.layers.*.self_attn", "model.layers.*.mlp.router",
                                  "model.embed_tokens", "lm_head"}},
                                {"quant_method", "mxfp4"}};
  }
  j["rms_norm_eps"] = 1e-05;
  j["rope_scaling"] = {{"beta_fast", 32.0},   {"beta_slow", 1.0},
                       {"factor", 32.0},      {"original_max_position_embeddings", 4096},
                       {"rope_type", "yarn"}, {"truncate", false}};
  j["rope_theta"] = 150000;
  j["router_aux_loss_coef"] = 0.9;
  j["sliding_window"] = d.window;
  j["swiglu_limit"] = 7.0;
  j["tie_word_embeddings"] = false;
  if (d.fixture_style) j["torch_dtype"] = "bfloat16";
  j["transformers_version"] = "4.55.0.dev0";
  j["use_cache"] = true;
  j["vocab_size"] = d.vocab;
  return j.dump(2) + "\n";
}

std::string GenerationConfigJson(const Dims& d) {
  nlohmann::ordered_json j;
  if (d.fixture_style) {  // the tiny fixtures' file
    j["bos_token_id"] = 1021;
    j["eos_token_id"] = {1022};
    j["pad_token_id"] = 1023;
    j["do_sample"] = false;
  } else {  // gpt-oss-20b's (spec §2.3)
    j["bos_token_id"] = 199998;
    j["do_sample"] = true;
    j["eos_token_id"] = {200002, 199999};
    j["pad_token_id"] = 199999;
    j["transformers_version"] = "4.55.0.dev0";
  }
  return j.dump(2) + "\n";
}

class TensorList {
 public:
  explicit TensorList(std::vector<SyntheticTensor>* out) : out_(out) {}

  void Bf16(std::string name, std::vector<int64_t> shape, float mean, float std) {
    Add(std::move(name), DType::kBF16, std::move(shape), {InitKind::kBf16Normal, mean, std});
  }
  void Linear(const std::string& prefix, int64_t out, int64_t in, bool bias = true) {
    Bf16(prefix + ".weight", {out, in}, 0.0f, 1.0f / std::sqrt(float(in)));
    if (bias) Bf16(prefix + ".bias", {out}, 0.0f, kBiasStd);
  }
  void Norm(std::string name, int64_t n) { Bf16(std::move(name), {n}, 1.0f, 0.05f); }
  // MXFP4 W [E, rows, cols]: blocks [E, rows, cols/32, 16] and scales [E, rows, cols/32].
  void Mxfp4(const std::string& prefix, int64_t e, int64_t rows, int64_t cols) {
    Add(prefix + "_blocks", DType::kU8, {e, rows, cols / 32, 16}, {InitKind::kMxfp4Codes});
    Add(prefix + "_scales", DType::kU8, {e, rows, cols / 32},
        {InitKind::kMxfp4Scales, 0.0f, 1.0f / std::sqrt(float(cols))});
  }

  static constexpr float kBiasStd = 0.02f;

 private:
  void Add(std::string name, DType dtype, std::vector<int64_t> shape, TensorInit init) {
    SyntheticTensor t;
    t.name = std::move(name);
    t.dtype = dtype;
    uint64_t n = 1;
    for (int64_t s : shape) n *= uint64_t(s);
    t.bytes = n * (dtype == DType::kBF16 ? 2 : 1);
    t.shape = std::move(shape);
    t.init = init;
    out_->push_back(std::move(t));
  }
  std::vector<SyntheticTensor>* out_;
};

// The tensors in the real checkpoint's order (spec §3.2): embeddings, each layer, norm, head.
std::vector<SyntheticTensor> Tensors(const Dims& d, bool mxfp4) {
  std::vector<SyntheticTensor> tensors;
  TensorList t(&tensors);
  const int64_t D = d.hidden, I = d.intermediate, E = d.experts, q = d.heads * d.head_dim,
                kv = d.kv_heads * d.head_dim;
  t.Bf16("model.embed_tokens.weight", {d.vocab, D}, 0.0f, 1.0f);
  for (int64_t i = 0; i < d.layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    t.Norm(p + "input_layernorm.weight", D);
    t.Linear(p + "self_attn.q_proj", q, D);
    t.Linear(p + "self_attn.k_proj", kv, D);
    t.Linear(p + "self_attn.v_proj", kv, D);
    t.Linear(p + "self_attn.o_proj", D, q);
    t.Bf16(p + "self_attn.sinks", {d.heads}, 0.0f, 0.1f);
    t.Norm(p + "post_attention_layernorm.weight", D);
    t.Linear(p + "mlp.router", E, D);
    const std::string x = p + "mlp.experts.";
    if (mxfp4) {
      t.Mxfp4(x + "gate_up_proj", E, 2 * I, D);
      t.Bf16(x + "gate_up_proj_bias", {E, 2 * I}, 0.0f, TensorList::kBiasStd);
      t.Mxfp4(x + "down_proj", E, D, I);
      t.Bf16(x + "down_proj_bias", {E, D}, 0.0f, TensorList::kBiasStd);
    } else {  // Hugging Face's dequantized layout: [E, in, out]
      t.Bf16(x + "gate_up_proj", {E, D, 2 * I}, 0.0f, 1.0f / std::sqrt(float(D)));
      t.Bf16(x + "gate_up_proj_bias", {E, 2 * I}, 0.0f, TensorList::kBiasStd);
      t.Bf16(x + "down_proj", {E, I, D}, 0.0f, 1.0f / std::sqrt(float(I)));
      t.Bf16(x + "down_proj_bias", {E, D}, 0.0f, TensorList::kBiasStd);
    }
  }
  t.Norm("model.norm.weight", D);
  t.Linear("lm_head", d.vocab, D, /*bias=*/false);
  return tensors;
}

}  // namespace

std::vector<std::string> SyntheticPresets() { return {"tiny", "demo", "20b", "120b"}; }

StatusOr<SyntheticPlan> PlanSyntheticGptOss(const SyntheticOptions& o) {
  ATOM_ASSIGN_OR_RETURN(Dims d, PresetDims(o.preset));
  if (o.experts != "mxfp4" && o.experts != "bf16")
    return InvalidArgument("unknown experts format '{}' (supported: mxfp4, bf16)", o.experts);
  const bool mxfp4 = o.experts == "mxfp4";
  if (o.layers < 0)
    return InvalidArgument("layers must be >= 0 (0: the preset's), got {}", o.layers);
  if (d.max_layers > 0 && o.layers > d.max_layers)
    return InvalidArgument("layers {} exceeds gpt-oss-{}'s {} layers (layers can only be cut)",
                           o.layers, o.preset, d.max_layers);
  if (o.layers > 4096) return InvalidArgument("layers {} is more than 4096", o.layers);
  if (o.layers > 0) d.layers = o.layers;
  if (mxfp4 && (d.hidden % 32 != 0 || d.intermediate % 32 != 0))
    return InvalidArgument(
        "MXFP4 experts need hidden_size ({}) and intermediate_size ({}) to "
        "be multiples of 32",
        d.hidden, d.intermediate);
  if (o.max_shard_bytes == 0) return InvalidArgument("max_shard_bytes must be > 0");

  SyntheticPlan plan;
  plan.config_json = ConfigJson(d, mxfp4);
  plan.generation_config_json = GenerationConfigJson(d);
  plan.writes_tokenizer = d.real_vocab;
  plan.tensors = Tensors(d, mxfp4);

  // Greedy packing in file order; a tensor larger than the limit gets a shard of its own.
  for (SyntheticTensor& t : plan.tensors) {
    const bool full = !plan.shard_bytes.empty() && plan.shard_bytes.back() > 0 &&
                      plan.shard_bytes.back() + t.bytes > o.max_shard_bytes;
    if (plan.shard_bytes.empty() || full) plan.shard_bytes.push_back(0);
    t.shard = int(plan.shard_bytes.size()) - 1;
    plan.shard_bytes.back() += t.bytes;
    plan.total_bytes += t.bytes;
  }
  const size_t n = plan.shard_bytes.size();
  for (size_t i = 0; i < n; ++i)
    plan.shard_names.push_back(fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, n));
  return plan;
}

}  // namespace atom
