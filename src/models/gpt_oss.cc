#include "models/gpt_oss.h"

#include <fmt/format.h>

#include <cmath>

#include "ops/rope.h"

namespace atom {

namespace {

using Layer = GptOssLayerWeights;

// Layer `layer`'s experts (MXFP4 blocks and scales, or bf16 matrices, and the biases).
StatusOr<ops::ExpertWeights> ExpertWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                                           int layer) {
  const std::string prefix = fmt::format("model.layers.{}.mlp.experts.", layer);
  const int64_t E = config.num_local_experts, D = config.hidden_size, I = config.intermediate_size;
  auto get = [&](const std::string& name, DType dtype, Shape shape) {
    return checkpoint.Get(prefix + name, dtype, shape);
  };
  ops::ExpertWeights e;
  e.num_experts = int(E);
  e.hidden = int(D);
  e.intermediate = int(I);
  e.swiglu_limit = float(config.swiglu_limit);
  e.swiglu_alpha = 1.702f;  // fixed by the architecture (spec §4.7), not in config.json
  const bool mxfp4 = checkpoint.Contains(prefix + "gate_up_proj_blocks");
  if (config.quantization && !mxfp4)
    return NotFound(
        "tensor '{}gate_up_proj_blocks' needed by quantization_config (mxfp4) is "
        "missing from checkpoint {}",
        prefix, checkpoint.dir());
  if (mxfp4) {
    if (D % 32 != 0 || I % 32 != 0)
      return InvalidArgument(
          "config.json: MXFP4 experts need hidden_size ({}) and "
          "intermediate_size ({}) to be multiples of 32",
          D, I);
    e.format = ops::ExpertFormat::kMxfp4;
    ATOM_ASSIGN_OR_RETURN(e.gate_up_blocks,
                          get("gate_up_proj_blocks", DType::kU8, {E, 2 * I, D / 32, 16}));
    ATOM_ASSIGN_OR_RETURN(e.gate_up_scales,
                          get("gate_up_proj_scales", DType::kU8, {E, 2 * I, D / 32}));
    ATOM_ASSIGN_OR_RETURN(e.down_blocks, get("down_proj_blocks", DType::kU8, {E, D, I / 32, 16}));
    ATOM_ASSIGN_OR_RETURN(e.down_scales, get("down_proj_scales", DType::kU8, {E, D, I / 32}));
  } else {
    e.format = ops::ExpertFormat::kBf16;
    ATOM_ASSIGN_OR_RETURN(e.gate_up, get("gate_up_proj", DType::kBF16, {E, D, 2 * I}));
    ATOM_ASSIGN_OR_RETURN(e.down, get("down_proj", DType::kBF16, {E, I, D}));
  }
  ATOM_ASSIGN_OR_RETURN(e.gate_up_bias, get("gate_up_proj_bias", DType::kBF16, {E, 2 * I}));
  ATOM_ASSIGN_OR_RETURN(e.down_bias, get("down_proj_bias", DType::kBF16, {E, D}));
  return e;
}

}  // namespace

Status CheckGptOssConfig(const ModelConfig& c) {
  auto need = [&](bool ok, std::string_view what) -> Status {
    if (ok) return OkStatus();
    return InvalidArgument("config.json: gpt-oss needs {}", what);
  };
  ATOM_RETURN_IF_ERROR(need(c.num_local_experts > 0, "num_local_experts > 0"));
  ATOM_RETURN_IF_ERROR(need(c.intermediate_size > 0, "intermediate_size > 0"));
  ATOM_RETURN_IF_ERROR(need(c.head_dim % 2 == 0, "an even head_dim"));
  ATOM_RETURN_IF_ERROR(need(c.attention_bias, "attention_bias = true"));
  ATOM_RETURN_IF_ERROR(need(c.swiglu_limit > 0, "swiglu_limit > 0"));
  ATOM_RETURN_IF_ERROR(need(!c.tie_word_embeddings, "tie_word_embeddings = false"));
  if (c.quantization && c.quantization->quant_method != "mxfp4")
    return Unimplemented(
        "config.json: quantization_config.quant_method \"{}\" is not supported "
        "for gpt-oss (supported: mxfp4)",
        c.quantization->quant_method);
  return OkStatus();
}

StatusOr<GptOssLayerWeights> GptOssLayer(const Checkpoint& checkpoint, const ModelConfig& c,
                                         int layer) {
  const int64_t D = c.hidden_size, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads,
                d = c.head_dim, E = c.num_local_experts;
  const std::string p = fmt::format("model.layers.{}.", layer);
  const std::string a = p + "self_attn.";
  auto get = [&](const std::string& name, Shape shape) {
    return checkpoint.Get(name, DType::kBF16, shape);
  };
  GptOssLayerWeights l;
  ATOM_ASSIGN_OR_RETURN(l.input_norm, get(p + "input_layernorm.weight", {D}));
  ATOM_ASSIGN_OR_RETURN(l.post_attn_norm, get(p + "post_attention_layernorm.weight", {D}));
  ATOM_ASSIGN_OR_RETURN(l.q_weight, get(a + "q_proj.weight", {Hq * d, D}));
  ATOM_ASSIGN_OR_RETURN(l.q_bias, get(a + "q_proj.bias", {Hq * d}));
  ATOM_ASSIGN_OR_RETURN(l.k_weight, get(a + "k_proj.weight", {Hkv * d, D}));
  ATOM_ASSIGN_OR_RETURN(l.k_bias, get(a + "k_proj.bias", {Hkv * d}));
  ATOM_ASSIGN_OR_RETURN(l.v_weight, get(a + "v_proj.weight", {Hkv * d, D}));
  ATOM_ASSIGN_OR_RETURN(l.v_bias, get(a + "v_proj.bias", {Hkv * d}));
  ATOM_ASSIGN_OR_RETURN(l.o_weight, get(a + "o_proj.weight", {D, Hq * d}));
  ATOM_ASSIGN_OR_RETURN(l.o_bias, get(a + "o_proj.bias", {D}));
  ATOM_ASSIGN_OR_RETURN(l.sinks, get(a + "sinks", {Hq}));
  ATOM_ASSIGN_OR_RETURN(l.router_weight, get(p + "mlp.router.weight", {E, D}));
  ATOM_ASSIGN_OR_RETURN(l.router_bias, get(p + "mlp.router.bias", {E}));
  ATOM_ASSIGN_OR_RETURN(l.experts, ExpertWeights(checkpoint, c, layer));
  l.sliding_window = c.is_sliding(layer) ? int(c.sliding_window) : 0;
  return l;
}

namespace {

class GptOss final : public Model {
 public:
  GptOss(ModelConfig config, Checkpoint checkpoint, ops::KernelSelection kernels)
      : config_(std::move(config)),
        checkpoint_(std::move(checkpoint)),
        k_(kernels.kernels),
        choices_(std::move(kernels.choices)) {}

  Status Load();

  const ModelConfig& config() const override { return config_; }
  KvCacheSpec kv_cache_spec() const override;
  ModelSummary summary() const override;
  const std::vector<ops::KernelChoice>& kernel_choices() const override { return choices_; }
  Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                 const Tensor& logits) override;

 private:
  StatusOr<Tensor> Get(const std::string& name, DType dtype, Shape shape) {
    return checkpoint_.Get(name, dtype, shape);
  }
  // Activations of one step, allocated once per Forward and reused by every layer.
  struct Workspace {
    Workspace(const ModelConfig& c, int64_t T)
        : x(DType::kF32, {T, c.hidden_size}),
          normed(DType::kF32, {T, c.hidden_size}),
          delta(DType::kF32, {T, c.hidden_size}),
          q(DType::kF32, {T, c.num_attention_heads * c.head_dim}),
          k(DType::kF32, {T, c.num_key_value_heads * c.head_dim}),
          v(DType::kF32, {T, c.num_key_value_heads * c.head_dim}),
          attn(DType::kF32, {T, c.num_attention_heads * c.head_dim}),
          router_logits(DType::kF32, {T, c.num_local_experts}),
          expert_indices(DType::kI32, {T, c.num_experts_per_tok}),
          expert_weights(DType::kF32, {T, c.num_experts_per_tok}) {}
    HostTensor x, normed, delta;  // residual stream, its normed copy, a block's output
    HostTensor q, k, v, attn;
    HostTensor router_logits, expert_indices, expert_weights;
  };

  // Attention block of one layer: reads ws.normed, writes ws.delta.
  void Attention(const Layer& layer, const Tensor& cache_k, const Tensor& cache_v,
                 const ForwardBatch& batch, Workspace& ws);
  // MoE block of one layer: reads ws.normed, writes ws.delta.
  void Moe(const Layer& layer, Workspace& ws);

  ModelConfig config_;
  Checkpoint checkpoint_;
  ops::Kernels k_;
  std::vector<ops::KernelChoice> choices_;
  ops::RopeTable rope_;

  Tensor embed_tokens_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
};

Status GptOss::Load() {
  const ModelConfig& c = config_;
  const int64_t V = c.vocab_size, D = c.hidden_size;
  ATOM_ASSIGN_OR_RETURN(rope_, ops::MakeRopeTable(c.rope_theta, int(c.head_dim), c.rope_scaling));
  ATOM_ASSIGN_OR_RETURN(embed_tokens_, Get("model.embed_tokens.weight", DType::kBF16, {V, D}));
  ATOM_ASSIGN_OR_RETURN(final_norm_, Get("model.norm.weight", DType::kBF16, {D}));
  ATOM_ASSIGN_OR_RETURN(lm_head_, Get("lm_head.weight", DType::kBF16, {V, D}));
  layers_.resize(c.num_hidden_layers);
  for (int i = 0; i < int(c.num_hidden_layers); ++i) {
    ATOM_ASSIGN_OR_RETURN(layers_[i], GptOssLayer(checkpoint_, c, i));
  }
  return OkStatus();
}

KvCacheSpec GptOss::kv_cache_spec() const {
  KvCacheSpec spec;
  spec.num_layers = int(config_.num_hidden_layers);
  spec.num_kv_heads = int(config_.num_key_value_heads);
  spec.head_dim = int(config_.head_dim);
  spec.dtype = DType::kF32;
  for (const Layer& l : layers_) spec.sliding_window.push_back(l.sliding_window);
  return spec;
}

ModelSummary GptOss::summary() const {
  ModelSummary s;
  s.tensor_bytes = checkpoint_.total_tensor_bytes();
  for (const std::string& name : checkpoint_.Names()) {
    StatusOr<Tensor> t = checkpoint_.Get(name);
    if (!t.ok()) continue;
    const bool scales = name.ends_with("_scales");
    const bool blocks = name.ends_with("_blocks");
    const uint64_t params = scales ? 0 : blocks ? 2 * uint64_t(t->numel()) : t->numel();
    s.parameters += params;
    if (name.find(".mlp.experts.") != std::string::npos) s.expert_parameters += params;
  }
  s.expert_format = layers_.empty()                                          ? ""
                    : layers_[0].experts.format == ops::ExpertFormat::kMxfp4 ? "mxfp4"
                                                                             : "bf16";
  s.kv_bytes_per_token = uint64_t(2) * config_.num_hidden_layers * config_.num_key_value_heads *
                         config_.head_dim * DTypeBits(DType::kF32) / 8;
  return s;
}

void GptOss::Attention(const Layer& l, const Tensor& cache_k, const Tensor& cache_v,
                       const ForwardBatch& batch, Workspace& ws) {
  const int64_t T = ws.normed.numel() / config_.hidden_size, Hq = config_.num_attention_heads,
                Hkv = config_.num_key_value_heads, d = config_.head_dim;
  k_.linear(ws.normed, l.q_weight, l.q_bias, ws.q);
  k_.linear(ws.normed, l.k_weight, l.k_bias, ws.k);
  k_.linear(ws.normed, l.v_weight, l.v_bias, ws.v);
  const Tensor q = ws.q.tensor().Reshape({T, Hq, d});
  const Tensor k = ws.k.tensor().Reshape({T, Hkv, d});
  const Tensor v = ws.v.tensor().Reshape({T, Hkv, d});
  const int32_t* positions = batch.attention.positions;
  k_.rope(q, positions, rope_);
  k_.rope(k, positions, rope_);
  k_.write_kv(k, v, batch.attention.slot_mapping, cache_k, cache_v);
  ops::AttentionParams params;
  params.scale = 1.0f / std::sqrt(float(d));
  params.sliding_window = l.sliding_window;
  k_.paged_attention(q, cache_k, cache_v, batch.attention, l.sinks, params,
                     ws.attn.tensor().Reshape({T, Hq, d}));
  k_.linear(ws.attn, l.o_weight, l.o_bias, ws.delta);
}

void GptOss::Moe(const Layer& l, Workspace& ws) {
  k_.linear(ws.normed, l.router_weight, l.router_bias, ws.router_logits);
  k_.router_topk(ws.router_logits, int(config_.num_experts_per_tok), ws.expert_indices,
                 ws.expert_weights);
  k_.moe_experts(ws.normed, l.experts, ws.expert_indices, ws.expert_weights, ws.delta);
}

Status GptOss::Forward(const ForwardBatch& batch, const KvCacheView& cache, const Tensor& logits) {
  const int64_t T = batch.attention.num_tokens, D = config_.hidden_size;
  if (int64_t(cache.key.size()) != config_.num_hidden_layers ||
      cache.value.size() != cache.key.size())
    return Internal("KV cache has {} layers, the model {}", cache.key.size(),
                    config_.num_hidden_layers);
  Workspace ws(config_, T);
  const float eps = float(config_.rms_norm_eps);
  k_.embedding(embed_tokens_, batch.token_ids, ws.x);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    k_.rms_norm(ws.x, l.input_norm, eps, ws.normed);
    Attention(l, cache.key[i], cache.value[i], batch, ws);
    k_.add(ws.x, ws.delta);
    k_.rms_norm(ws.x, l.post_attn_norm, eps, ws.normed);
    Moe(l, ws);
    k_.add(ws.x, ws.delta);
  }
  // Only the requested rows go through the final norm and the (large) unembedding.
  const int64_t R = batch.num_logits;
  HostTensor rows(DType::kF32, {R, D});
  for (int64_t r = 0; r < R; ++r) {
    const int32_t src = batch.logits_indices[r];
    ATOM_CHECK(src >= 0 && src < T);
    std::copy_n(ws.x.data<float>() + src * D, D, rows.data<float>() + r * D);
  }
  k_.rms_norm(rows, final_norm_, eps, rows);
  k_.linear(rows, lm_head_, Tensor(), logits);
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> CreateGptOss(ModelConfig config, Checkpoint checkpoint,
                                              ops::KernelSelection kernels) {
  ATOM_RETURN_IF_ERROR(CheckGptOssConfig(config));
  auto model =
      std::make_unique<GptOss>(std::move(config), std::move(checkpoint), std::move(kernels));
  ATOM_RETURN_IF_ERROR(model->Load());
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace atom
