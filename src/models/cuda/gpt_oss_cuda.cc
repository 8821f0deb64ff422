#include "models/cuda/gpt_oss_cuda.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "backends/cuda/cublaslt_linear.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/embedding.h"
#include "backends/cuda/gather_rows.h"
#include "backends/cuda/moe.h"
#include "backends/cuda/moe_experts_upload.h"
#include "backends/cuda/op_profiler.h"
#include "backends/cuda/paged_attention.h"
#include "backends/cuda/rms_norm.h"
#include "backends/cuda/rope_kv.h"
#include "backends/cuda/router.h"
#include "models/gpt_oss.h"
#include "ops/rope.h"

namespace atom {

namespace {

using cuda::DeviceBuffer;

// A device copy of a host tensor, as it is.
StatusOr<DeviceBuffer> Upload(const Tensor& host) {
  ATOM_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(host.nbytes()));
  ATOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(b.data(), host.data(), host.nbytes(), cudaMemcpyHostToDevice));
  return b;
}

// A device f32 copy of a host bf16 tensor (sinks, the router bias: read as f32 by the kernels).
StatusOr<DeviceBuffer> UploadAsF32(const Tensor& host) {
  std::vector<float> values(size_t(host.numel()));
  const auto* bits = host.data_as<const uint16_t>();
  for (size_t i = 0; i < values.size(); ++i) values[i] = Bf16ToFloat(bits[i]);
  ATOM_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(values.size() * sizeof(float)));
  ATOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(b.data(), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
  return b;
}

// Host tensors stacked by rows into one device buffer (q, k and v projections → qkv).
StatusOr<DeviceBuffer> UploadStacked(const std::vector<Tensor>& parts) {
  uint64_t bytes = 0;
  for (const Tensor& t : parts) bytes += t.nbytes();
  ATOM_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(bytes));
  uint64_t offset = 0;
  for (const Tensor& t : parts) {
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(static_cast<uint8_t*>(b.data()) + offset, t.data(),
                                         t.nbytes(), cudaMemcpyHostToDevice));
    offset += t.nbytes();
  }
  return b;
}

// Grows `buffer` to at least `bytes` (contents are not kept).
Status Grow(DeviceBuffer& buffer, size_t bytes) {
  if (buffer.size() >= bytes) return OkStatus();
  ATOM_ASSIGN_OR_RETURN(buffer, DeviceBuffer::Allocate(std::max<size_t>(bytes, 256)));
  return OkStatus();
}

// Copies host values into a device buffer, growing it as needed.
template <typename T>
Status UploadTo(DeviceBuffer& buffer, const T* host, size_t n, cudaStream_t stream) {
  ATOM_RETURN_IF_ERROR(Grow(buffer, n * sizeof(T)));
  if (n == 0) return OkStatus();
  ATOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(buffer.data(), host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
  return OkStatus();
}

template <typename T>
T* As(const DeviceBuffer& b) {
  return static_cast<T*>(b.data());
}

struct Layer {
  DeviceBuffer input_norm, post_attn_norm;  // bf16 [D]
  DeviceBuffer qkv_weight, qkv_bias;        // bf16 [(Hq + 2 Hkv) d, D], [(Hq + 2 Hkv) d]
  DeviceBuffer o_weight, o_bias;            // bf16 [D, Hq d], [D]
  DeviceBuffer sinks;                       // f32 [Hq]
  DeviceBuffer router_weight;               // bf16 [E, D]
  DeviceBuffer router_bias;                 // f32 [E]
  cuda::MoeExpertsOnDevice experts;
  int sliding_window = 0;
};

class GptOssCuda final : public Model {
 public:
  GptOssCuda(ModelConfig config, Checkpoint checkpoint)
      : config_(std::move(config)), checkpoint_(std::move(checkpoint)) {}
  ~GptOssCuda() override {
    profiler_.reset();  // logs its table; its events live on the stream
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status Load(int max_num_batched_tokens);

  const ModelConfig& config() const override { return config_; }
  KvCacheSpec kv_cache_spec() const override;
  ModelSummary summary() const override;
  const std::vector<ops::KernelChoice>& kernel_choices() const override { return choices_; }
  Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                 const Tensor& logits) override;

 private:
  Tensor Device2D(const DeviceBuffer& b, DType dtype, int64_t rows, int64_t cols) const {
    return Tensor(b.data(), dtype, {rows, cols}, device_);
  }
  Tensor Device2D(void* p, DType dtype, int64_t rows, int64_t cols) const {
    return Tensor(p, dtype, {rows, cols}, device_);
  }
  // Grows the step buffers to `tokens` tokens and `rows` logits rows.
  Status ReserveStep(int64_t tokens, int64_t rows);
  Status Attention(const Layer& l, const Tensor& cache_k, const Tensor& cache_v,
                   const ForwardBatch& batch, int max_query_len, int max_seq_len);
  Status Moe(const Layer& l, int64_t tokens);

  ModelConfig config_;
  Checkpoint checkpoint_;
  Device device_{DeviceType::kCuda, 0};
  cuda::DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::CublasLtLinear> linear_;
  std::unique_ptr<cuda::OpProfiler> profiler_;  // ATOM_CUDA_PROFILE=1: time per op
  std::vector<ops::KernelChoice> choices_;
  float rope_scale_ = 1.0f;
  uint64_t weight_bytes_ = 0;

  DeviceBuffer embed_tokens_, final_norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;

  // The step's activations and metadata, grown to the largest step seen.
  DeviceBuffer residual_, delta_, normed_, qkv_, q_, attn_, router_logits_, expert_indices_,
      expert_weights_, moe_workspace_, attention_workspace_, final_rows_, logits_;
  DeviceBuffer token_ids_, positions_, slot_mapping_, query_start_, seq_lens_, block_tables_,
      logits_indices_;
};

Status GptOssCuda::Load(int max_num_batched_tokens) {
  const ModelConfig& c = config_;
  const int64_t V = c.vocab_size, D = c.hidden_size, Hq = c.num_attention_heads,
                Hkv = c.num_key_value_heads, d = c.head_dim, E = c.num_local_experts;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device_.index));
  ATOM_ASSIGN_OR_RETURN(std::vector<cuda::DeviceInfo> devices, cuda::QueryDevices());
  if (device_.index >= int(devices.size())) return NotFound("no CUDA device {}", device_.index);
  info_ = devices[device_.index];
  ATOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_.index));
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  ATOM_ASSIGN_OR_RETURN(linear_, cuda::CublasLtLinear::Create());
  profiler_ = std::make_unique<cuda::OpProfiler>(stream_);

  ATOM_ASSIGN_OR_RETURN(ops::RopeTable rope,
                        ops::MakeRopeTable(c.rope_theta, int(d), c.rope_scaling));
  rope_scale_ = rope.attention_scale;
  ATOM_ASSIGN_OR_RETURN(inv_freq_, Upload(Tensor(rope.inv_freq.data(), DType::kF32,
                                                 {int64_t(rope.inv_freq.size())})));
  auto get = [&](const std::string& name, DType dtype, Shape shape) {
    return checkpoint_.Get(name, dtype, shape);
  };
  ATOM_ASSIGN_OR_RETURN(Tensor embed, get("model.embed_tokens.weight", DType::kBF16, {V, D}));
  ATOM_ASSIGN_OR_RETURN(embed_tokens_, Upload(embed));
  ATOM_ASSIGN_OR_RETURN(Tensor norm, get("model.norm.weight", DType::kBF16, {D}));
  ATOM_ASSIGN_OR_RETURN(final_norm_, Upload(norm));
  ATOM_ASSIGN_OR_RETURN(Tensor lm_head, get("lm_head.weight", DType::kBF16, {V, D}));
  ATOM_ASSIGN_OR_RETURN(lm_head_, Upload(lm_head));
  weight_bytes_ = embed.nbytes() + norm.nbytes() + lm_head.nbytes();

  layers_.resize(c.num_hidden_layers);
  for (int i = 0; i < int(c.num_hidden_layers); ++i) {
    Layer& l = layers_[i];
    const std::string p = fmt::format("model.layers.{}.", i);
    const std::string a = p + "self_attn.";
    ATOM_ASSIGN_OR_RETURN(Tensor in_norm, get(p + "input_layernorm.weight", DType::kBF16, {D}));
    ATOM_ASSIGN_OR_RETURN(Tensor post_norm,
                          get(p + "post_attention_layernorm.weight", DType::kBF16, {D}));
    ATOM_ASSIGN_OR_RETURN(Tensor qw, get(a + "q_proj.weight", DType::kBF16, {Hq * d, D}));
    ATOM_ASSIGN_OR_RETURN(Tensor qb, get(a + "q_proj.bias", DType::kBF16, {Hq * d}));
    ATOM_ASSIGN_OR_RETURN(Tensor kw, get(a + "k_proj.weight", DType::kBF16, {Hkv * d, D}));
    ATOM_ASSIGN_OR_RETURN(Tensor kb, get(a + "k_proj.bias", DType::kBF16, {Hkv * d}));
    ATOM_ASSIGN_OR_RETURN(Tensor vw, get(a + "v_proj.weight", DType::kBF16, {Hkv * d, D}));
    ATOM_ASSIGN_OR_RETURN(Tensor vb, get(a + "v_proj.bias", DType::kBF16, {Hkv * d}));
    ATOM_ASSIGN_OR_RETURN(Tensor ow, get(a + "o_proj.weight", DType::kBF16, {D, Hq * d}));
    ATOM_ASSIGN_OR_RETURN(Tensor ob, get(a + "o_proj.bias", DType::kBF16, {D}));
    ATOM_ASSIGN_OR_RETURN(Tensor sinks, get(a + "sinks", DType::kBF16, {Hq}));
    ATOM_ASSIGN_OR_RETURN(Tensor rw, get(p + "mlp.router.weight", DType::kBF16, {E, D}));
    ATOM_ASSIGN_OR_RETURN(Tensor rb, get(p + "mlp.router.bias", DType::kBF16, {E}));
    ATOM_ASSIGN_OR_RETURN(ops::ExpertWeights experts, GptOssExpertWeights(checkpoint_, c, i));

    ATOM_ASSIGN_OR_RETURN(l.input_norm, Upload(in_norm));
    ATOM_ASSIGN_OR_RETURN(l.post_attn_norm, Upload(post_norm));
    ATOM_ASSIGN_OR_RETURN(l.qkv_weight, UploadStacked({qw, kw, vw}));
    ATOM_ASSIGN_OR_RETURN(l.qkv_bias, UploadStacked({qb, kb, vb}));
    ATOM_ASSIGN_OR_RETURN(l.o_weight, Upload(ow));
    ATOM_ASSIGN_OR_RETURN(l.o_bias, Upload(ob));
    ATOM_ASSIGN_OR_RETURN(l.sinks, UploadAsF32(sinks));
    ATOM_ASSIGN_OR_RETURN(l.router_weight, Upload(rw));
    ATOM_ASSIGN_OR_RETURN(l.router_bias, UploadAsF32(rb));
    ATOM_ASSIGN_OR_RETURN(l.experts, cuda::UploadMoeExperts(experts, stream_));
    l.sliding_window = c.is_sliding(i) ? int(c.sliding_window) : 0;
    weight_bytes_ += in_norm.nbytes() + post_norm.nbytes() + qw.nbytes() + qb.nbytes() +
                     kw.nbytes() + kb.nbytes() + vw.nbytes() + vb.nbytes() + ow.nbytes() +
                     ob.nbytes() + 2 * sinks.nbytes() + rw.nbytes() + 2 * rb.nbytes() +
                     l.experts.device_bytes();
  }

  // What runs each op, for the start-up log.
  const std::string arch = fmt::format("sm_{}", info_.sm_arch);
  const std::string no_tuned = "no sm_90a-tuned variant yet";
  choices_ = {
      {"embedding", "cuda", "the one variant (bf16 table, 16-byte rows)"},
      {"rms_norm", "cuda_fused_add", "the one variant (residual add fused)"},
      {"linear", "cublaslt", "cuBLASLt heuristic per shape on " + arch},
      {"rope_write_kv", "cuda_fused", "the one variant (bf16 cache)"},
      {"paged_attention", "per step: decode_split_kv | prefill_mma | mixed",
       "planned per step from the batch shape, SM count and shared memory; " + no_tuned},
      {"router_topk", "cuda_warp", "the one variant"},
      {"moe_experts", "per step: decode | tiled64 | tiled128 | bf16_simple",
       fmt::format("by (token, slot) pairs per expert: decode up to {}, tiled128 from {}; {}",
                   cuda::kMoeDecodeMaxRowsPerExpert, cuda::kMoeTiled128MinRowsPerExpert, no_tuned)},
  };
  ATOM_RETURN_IF_ERROR(ReserveStep(max_num_batched_tokens, std::min(max_num_batched_tokens, 256)));
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return OkStatus();
}

KvCacheSpec GptOssCuda::kv_cache_spec() const {
  KvCacheSpec spec;
  spec.num_layers = int(config_.num_hidden_layers);
  spec.num_kv_heads = int(config_.num_key_value_heads);
  spec.head_dim = int(config_.head_dim);
  spec.dtype = DType::kBF16;
  spec.device = device_;
  for (const Layer& l : layers_) spec.sliding_window.push_back(l.sliding_window);
  return spec;
}

ModelSummary GptOssCuda::summary() const {
  ModelSummary s;
  s.tensor_bytes = checkpoint_.total_tensor_bytes();
  s.expert_format =
      layers_.empty() || layers_[0].experts.view().format == cuda::MoeExpertFormat::kMxfp4 ? "mxfp4"
                                                                                           : "bf16";
  s.kv_bytes_per_token =
      uint64_t(2) * config_.num_hidden_layers * config_.num_key_value_heads * config_.head_dim * 2;
  return s;
}

Status GptOssCuda::ReserveStep(int64_t T, int64_t R) {
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads,
                d = c.head_dim, E = c.num_local_experts, k = c.num_experts_per_tok;
  ATOM_RETURN_IF_ERROR(Grow(residual_, T * D * 4));
  ATOM_RETURN_IF_ERROR(Grow(delta_, T * D * 4));
  ATOM_RETURN_IF_ERROR(Grow(normed_, T * D * 2));
  ATOM_RETURN_IF_ERROR(Grow(qkv_, T * (Hq + 2 * Hkv) * d * 2));
  ATOM_RETURN_IF_ERROR(Grow(q_, T * Hq * d * 2));
  ATOM_RETURN_IF_ERROR(Grow(attn_, T * Hq * d * 2));
  ATOM_RETURN_IF_ERROR(Grow(router_logits_, T * E * 4));
  ATOM_RETURN_IF_ERROR(Grow(expert_indices_, T * k * 4));
  ATOM_RETURN_IF_ERROR(Grow(expert_weights_, T * k * 4));
  ATOM_RETURN_IF_ERROR(Grow(moe_workspace_, cuda::MoeWorkspaceBytes(int(T), int(k), int(E), int(D),
                                                                    int(c.intermediate_size))));
  ATOM_RETURN_IF_ERROR(Grow(final_rows_, R * D * 2));
  ATOM_RETURN_IF_ERROR(Grow(logits_, R * c.vocab_size * 4));
  return OkStatus();
}

Status GptOssCuda::Attention(const Layer& l, const Tensor& cache_k, const Tensor& cache_v,
                             const ForwardBatch& batch, int max_query_len, int max_seq_len) {
  const ops::AttentionMetadata& md = batch.attention;
  const int64_t T = md.num_tokens, D = config_.hidden_size;
  const int Hq = int(config_.num_attention_heads), Hkv = int(config_.num_key_value_heads),
            d = int(config_.head_dim);
  ATOM_RETURN_IF_ERROR(
      linear_->Linear(Device2D(normed_, DType::kBF16, T, D),
                      Device2D(l.qkv_weight, DType::kBF16, (Hq + 2 * Hkv) * d, D),
                      Tensor(l.qkv_bias.data(), DType::kBF16, {int64_t(Hq + 2 * Hkv) * d}, device_),
                      Device2D(qkv_, DType::kBF16, T, (Hq + 2 * Hkv) * d), stream_));
  profiler_->Mark("qkv_gemm");
  cuda::RopeKvShape rope;
  rope.num_tokens = T;
  rope.num_q_heads = Hq;
  rope.num_kv_heads = Hkv;
  rope.head_dim = d;
  rope.num_slots = cache_k.dim(0) * cache_k.dim(1);
  ATOM_RETURN_IF_ERROR(cuda::RopeWriteKvBf16(
      As<__nv_bfloat16>(qkv_), As<int32_t>(positions_), As<int64_t>(slot_mapping_),
      As<float>(inv_freq_), rope_scale_, rope, As<__nv_bfloat16>(q_),
      cache_k.data_as<__nv_bfloat16>(), cache_v.data_as<__nv_bfloat16>(), stream_));
  profiler_->Mark("rope_write_kv");

  cuda::PagedAttentionShape shape;
  shape.num_seqs = md.num_seqs;
  shape.num_tokens = int(T);
  shape.num_q_heads = Hq;
  shape.num_kv_heads = Hkv;
  shape.head_dim = d;
  shape.block_size = md.block_size;
  shape.max_blocks_per_seq = md.max_blocks_per_seq;
  shape.sliding_window = l.sliding_window;
  shape.max_query_len = max_query_len;
  shape.max_seq_len = max_seq_len;
  ATOM_ASSIGN_OR_RETURN(cuda::PagedAttentionPlan plan, cuda::PlanPagedAttention(info_, shape));
  ATOM_RETURN_IF_ERROR(Grow(attention_workspace_, plan.workspace_bytes));
  cuda::PagedAttentionArgs args;
  args.q = As<__nv_bfloat16>(q_);
  args.key_cache = cache_k.data_as<__nv_bfloat16>();
  args.value_cache = cache_v.data_as<__nv_bfloat16>();
  args.sinks = As<float>(l.sinks);
  args.out = As<__nv_bfloat16>(attn_);
  args.scale = 1.0f / std::sqrt(float(d));
  args.query_start = As<int32_t>(query_start_);
  args.seq_lens = As<int32_t>(seq_lens_);
  args.positions = As<int32_t>(positions_);
  args.block_tables = As<int32_t>(block_tables_);
  ATOM_RETURN_IF_ERROR(cuda::PagedAttention(args, plan, attention_workspace_.data(),
                                            attention_workspace_.size(), stream_));
  profiler_->Mark("attention");
  ATOM_RETURN_IF_ERROR(linear_->Linear(Device2D(attn_, DType::kBF16, T, int64_t(Hq) * d),
                                       Device2D(l.o_weight, DType::kBF16, D, int64_t(Hq) * d),
                                       Tensor(l.o_bias.data(), DType::kBF16, {D}, device_),
                                       Device2D(delta_, DType::kF32, T, D), stream_));
  profiler_->Mark("o_gemm");
  return OkStatus();
}

Status GptOssCuda::Moe(const Layer& l, int64_t T) {
  const int64_t D = config_.hidden_size, E = config_.num_local_experts;
  const int k = int(config_.num_experts_per_tok);
  ATOM_RETURN_IF_ERROR(linear_->Linear(Device2D(normed_, DType::kBF16, T, D),
                                       Device2D(l.router_weight, DType::kBF16, E, D),
                                       Tensor(l.router_bias.data(), DType::kF32, {E}, device_),
                                       Device2D(router_logits_, DType::kF32, T, E), stream_));
  ATOM_RETURN_IF_ERROR(cuda::RouterTopK(As<float>(router_logits_), T, int(E), k,
                                        As<int32_t>(expert_indices_), As<float>(expert_weights_),
                                        stream_));
  profiler_->Mark("router");
  ATOM_RETURN_IF_ERROR(cuda::LaunchMoeExperts(
      l.experts.view(), As<__nv_bfloat16>(normed_), int(T), As<int32_t>(expert_indices_),
      As<float>(expert_weights_), k, As<float>(delta_), moe_workspace_.data(),
      moe_workspace_.size(), stream_));
  profiler_->Mark("moe_experts");
  return OkStatus();
}

Status GptOssCuda::Forward(const ForwardBatch& batch, const KvCacheView& cache,
                           const Tensor& logits) {
  const ops::AttentionMetadata& md = batch.attention;
  const int64_t T = md.num_tokens, S = md.num_seqs, R = batch.num_logits, D = config_.hidden_size,
                V = config_.vocab_size;
  if (int64_t(cache.key.size()) != config_.num_hidden_layers ||
      cache.value.size() != cache.key.size())
    return Internal("KV cache has {} layers, the model {}", cache.key.size(),
                    config_.num_hidden_layers);
  if (cache.key[0].device() != device_ || cache.key[0].dtype() != DType::kBF16)
    return Internal("KV cache is {}, the model needs bf16 on {}", cache.key[0].ToString(),
                    DeviceName(device_));
  ATOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_.index));
  ATOM_RETURN_IF_ERROR(ReserveStep(T, R));

  // The step's metadata, and the scheduler's hints for the attention plan.
  int max_query_len = 0, max_seq_len = 0;
  for (int64_t s = 0; s < S; ++s) {
    max_query_len = std::max(max_query_len, md.query_start[s + 1] - md.query_start[s]);
    max_seq_len = std::max(max_seq_len, md.seq_lens[s]);
  }
  profiler_->BeginStep(max_query_len > 1 ? "prefill" : "decode");
  ATOM_RETURN_IF_ERROR(UploadTo(token_ids_, batch.token_ids, size_t(T), stream_));
  ATOM_RETURN_IF_ERROR(UploadTo(positions_, md.positions, size_t(T), stream_));
  ATOM_RETURN_IF_ERROR(UploadTo(slot_mapping_, md.slot_mapping, size_t(T), stream_));
  ATOM_RETURN_IF_ERROR(UploadTo(query_start_, md.query_start, size_t(S + 1), stream_));
  ATOM_RETURN_IF_ERROR(UploadTo(seq_lens_, md.seq_lens, size_t(S), stream_));
  ATOM_RETURN_IF_ERROR(UploadTo(block_tables_, md.block_tables,
                                size_t(S) * size_t(std::max(md.max_blocks_per_seq, 1)), stream_));
  ATOM_RETURN_IF_ERROR(UploadTo(logits_indices_, batch.logits_indices, size_t(R), stream_));

  profiler_->Mark("metadata_upload");
  const float eps = float(config_.rms_norm_eps);
  float* residual = As<float>(residual_);
  ATOM_RETURN_IF_ERROR(cuda::EmbeddingBf16(As<__nv_bfloat16>(embed_tokens_), V, D,
                                           As<int32_t>(token_ids_), T, residual, stream_));
  profiler_->Mark("embedding");
  const float* pending = nullptr;  // the last block's output, not yet added to the residual
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    ATOM_RETURN_IF_ERROR(cuda::FusedAddRmsNorm(residual, pending, As<__nv_bfloat16>(l.input_norm),
                                               eps, T, D, As<__nv_bfloat16>(normed_), stream_));
    profiler_->Mark("add_rms_norm");
    ATOM_RETURN_IF_ERROR(
        Attention(l, cache.key[i], cache.value[i], batch, max_query_len, max_seq_len));
    ATOM_RETURN_IF_ERROR(cuda::FusedAddRmsNorm(residual, As<float>(delta_),
                                               As<__nv_bfloat16>(l.post_attn_norm), eps, T, D,
                                               As<__nv_bfloat16>(normed_), stream_));
    profiler_->Mark("add_rms_norm");
    ATOM_RETURN_IF_ERROR(Moe(l, T));
    pending = As<float>(delta_);
  }
  ATOM_RETURN_IF_ERROR(cuda::FusedAddRmsNorm(residual, pending, As<__nv_bfloat16>(final_norm_), eps,
                                             T, D, As<__nv_bfloat16>(normed_), stream_));
  profiler_->Mark("add_rms_norm");
  if (R > 0) {
    ATOM_RETURN_IF_ERROR(cuda::GatherRowsBf16(As<__nv_bfloat16>(normed_), D,
                                              As<int32_t>(logits_indices_), R,
                                              As<__nv_bfloat16>(final_rows_), stream_));
    ATOM_RETURN_IF_ERROR(linear_->Linear(Device2D(final_rows_, DType::kBF16, R, D),
                                         Device2D(lm_head_, DType::kBF16, V, D), Tensor(),
                                         Device2D(logits_, DType::kF32, R, V), stream_));
    profiler_->Mark("unembedding");
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits.data(), logits_.data(),
                                              size_t(R * V) * sizeof(float), cudaMemcpyDeviceToHost,
                                              stream_));
    profiler_->Mark("logits_to_host");
  }
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  profiler_->EndStep();
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> CreateGptOssCuda(ModelConfig config, Checkpoint checkpoint,
                                                  int max_num_batched_tokens) {
  ATOM_RETURN_IF_ERROR(CheckGptOssConfig(config));
  auto model = std::make_unique<GptOssCuda>(std::move(config), std::move(checkpoint));
  ATOM_RETURN_IF_ERROR(model->Load(std::max(max_num_batched_tokens, 1)));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace atom
