#include "models/cuda/gpt_oss_cuda.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "backends/cuda/cublaslt_linear.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/dense_gemv.h"
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
#include "backends/cuda/sampling.h"
#include "core/logging.h"
#include "models/cuda/cuda_sampler.h"
#include "models/gpt_oss.h"
#include "ops/cuda_kernel_selection.h"
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
  DeviceBuffer kv_scales;  // fp8 KV cache only: f32 [2] = k_scale, v_scale (value = stored · scale)
  int sliding_window = 0;
};

class GptOssCuda final : public Model {
 public:
  GptOssCuda(ModelConfig config, Checkpoint checkpoint)
      : config_(std::move(config)), checkpoint_(std::move(checkpoint)) {}
  ~GptOssCuda() override {
    profiler_.reset();  // logs its table; its events live on the stream
    for (auto& [bucket, graph] : graphs_)
      if (graph.exec != nullptr) cudaGraphExecDestroy(graph.exec);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status Load(int max_num_batched_tokens, bool enforce_eager, DType kv_cache_dtype,
              const ops::EnvLookup& env);

  const ModelConfig& config() const override { return config_; }
  KvCacheSpec kv_cache_spec() const override;
  ModelSummary summary() const override;
  const std::vector<ops::KernelChoice>& kernel_choices() const override { return choices_; }
  Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                 const Tensor& logits) override;
  bool SupportsArgmax() const override { return true; }
  bool SupportsSampling() const override { return true; }

 private:
  // The logits rows computed into logits_ go to the host: as they are, or (batch.argmax) as
  // their argmax tokens, or (batch.sampling) as the tokens and logprobs sampled on the device.
  // Enqueues only; the caller synchronises.
  Status LogitsToHost(const ForwardBatch& batch, int64_t rows, const Tensor& logits);
  // SampleRows over logits_ (which it overwrites), outside any graph.
  Status SampleOnDevice(const ops::SamplingRows& sampling, int64_t rows);
  Tensor Device2D(const DeviceBuffer& b, DType dtype, int64_t rows, int64_t cols) const {
    return Tensor(b.data(), dtype, {rows, cols}, device_);
  }
  Tensor Device2D(void* p, DType dtype, int64_t rows, int64_t cols) const {
    return Tensor(p, dtype, {rows, cols}, device_);
  }
  // What the kernels of one step need to know on the host: sizes and attention plans (one for
  // full-attention layers, one for sliding-window layers).
  struct StepShape {
    int64_t tokens = 0, seqs = 0, rows = 0;
    cuda::PagedAttentionPlan full, sliding;
  };
  // A decode step captured for a batch-size bucket; replayed while no step buffer has moved.
  struct DecodeGraph {
    cudaGraphExec_t exec = nullptr;
    uint64_t epoch = 0;
  };

  // Grows a step buffer (contents are not kept). Any reallocation starts a new epoch: graphs
  // captured before it point at freed memory and are captured again.
  Status GrowStep(DeviceBuffer& buffer, size_t bytes);
  template <typename T>
  Status UploadStep(DeviceBuffer& buffer, const T* host, size_t n);
  // Grows the step buffers to `tokens` tokens and `rows` logits rows.
  Status ReserveStep(int64_t tokens, int64_t rows);
  // The attention plans for a step (and room for their workspace).
  StatusOr<StepShape> PlanStep(int64_t tokens, int64_t seqs, int64_t rows, int block_size,
                               int max_blocks_per_seq, int max_query_len, int max_seq_len);
  // Everything from the embedding to the logits rows in logits_, over the metadata already in
  // the step buffers. Enqueues only (capturable).
  Status RunLayers(const StepShape& step, const KvCacheView& cache);
  Status Attention(const Layer& l, const Tensor& cache_k, const Tensor& cache_v,
                   const StepShape& step);
  Status Moe(const Layer& l, int64_t tokens);
  // out = x · weightᵀ + bias (bf16 weight [out, in]): DenseGemv where the selection chose it and
  // it beats cuBLASLt for this many tokens (DenseGemvPreferred), else cuBLASLt.
  Status Dense(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
  // A decode-only step of at most kMaxGraphBatch sequences, as a CUDA graph replay.
  Status ForwardDecodeGraph(const ForwardBatch& batch, const KvCacheView& cache,
                            const Tensor& logits);
  void Mark(const char* op) {
    if (!capturing_) profiler_->Mark(op);
  }

  ModelConfig config_;
  Checkpoint checkpoint_;
  Device device_{DeviceType::kCuda, 0};
  cuda::DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::CublasLtLinear> linear_;
  std::unique_ptr<cuda::OpProfiler> profiler_;  // ATOM_CUDA_PROFILE=1: time per op
  std::vector<ops::KernelChoice> choices_;
  cuda::MoeVariant moe_few_tokens_ = cuda::MoeVariant::kStream;  // the selected MoE kernel
  bool gemv_few_tokens_ = false;  // the selected linear kernel: DenseGemv for few tokens
  float rope_scale_ = 1.0f;
  uint64_t weight_bytes_ = 0;
  DType kv_cache_dtype_ = DType::kBF16;  // kBF16 or kF8E4M3 (--kv-cache-dtype)

  DeviceBuffer embed_tokens_, final_norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;

  // The step's activations and metadata, grown to the largest step seen.
  DeviceBuffer residual_, delta_, normed_, qkv_, q_, attn_, router_logits_, expert_indices_,
      expert_weights_, moe_workspace_, attention_workspace_, final_rows_, logits_;
  DeviceBuffer token_ids_, positions_, slot_mapping_, query_start_, seq_lens_, block_tables_,
      logits_indices_;
  DeviceBuffer argmax_, argmax_workspace_;
  CudaSampler sampler_;  // device sampling, outside the graphs
  uint64_t buffers_epoch_ = 0;
  // The KV cache the graphs were captured over: every pool's address and the block count, all
  // baked into the graphs (a new cache may reuse some of a freed one's addresses, not all).
  std::vector<const void*> graphs_cache_, cache_pools_;
  int64_t graphs_cache_blocks_ = 0;

  // Decode graphs by padded batch size; the host staging of their padded metadata.
  static constexpr int kMaxGraphBatch = 256;
  bool use_graphs_ = true;
  bool capturing_ = false;
  std::map<std::pair<int, int>, DecodeGraph> graphs_;  // by (batch, context) bucket
  std::vector<int32_t> pad_tokens_, pad_positions_, pad_query_start_, pad_seq_lens_,
      pad_block_tables_, pad_rows_;
  std::vector<int64_t> pad_slots_;
};

Status GptOssCuda::GrowStep(DeviceBuffer& buffer, size_t bytes) {
  if (buffer.size() >= bytes) return OkStatus();
  if (capturing_) return Internal("a step buffer grew during CUDA graph capture");
  ATOM_ASSIGN_OR_RETURN(buffer, DeviceBuffer::Allocate(std::max<size_t>(bytes, 256)));
  ++buffers_epoch_;
  return OkStatus();
}

template <typename T>
Status GptOssCuda::UploadStep(DeviceBuffer& buffer, const T* host, size_t n) {
  ATOM_RETURN_IF_ERROR(GrowStep(buffer, n * sizeof(T)));
  if (n == 0) return OkStatus();
  ATOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(buffer.data(), host, n * sizeof(T), cudaMemcpyHostToDevice, stream_));
  return OkStatus();
}

Status GptOssCuda::Load(int max_num_batched_tokens, bool enforce_eager, DType kv_cache_dtype,
                        const ops::EnvLookup& env) {
  use_graphs_ = !enforce_eager;
  if (kv_cache_dtype != DType::kBF16 && kv_cache_dtype != DType::kF8E4M3)
    return InvalidArgument("gpt-oss on CUDA: KV cache dtype {} (bf16 or fp8_e4m3)",
                           DTypeName(kv_cache_dtype));
  kv_cache_dtype_ = kv_cache_dtype;
  const ModelConfig& c = config_;
  const int64_t V = c.vocab_size, D = c.hidden_size;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device_.index));
  ATOM_ASSIGN_OR_RETURN(std::vector<cuda::DeviceInfo> devices, cuda::QueryDevices());
  if (device_.index >= int(devices.size())) return NotFound("no CUDA device {}", device_.index);
  info_ = devices[device_.index];
  ATOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_.index));
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  ATOM_ASSIGN_OR_RETURN(linear_, cuda::CublasLtLinear::Create());
  profiler_ = std::make_unique<cuda::OpProfiler>(stream_);

  ATOM_ASSIGN_OR_RETURN(ops::RopeTable rope,
                        ops::MakeRopeTable(c.rope_theta, int(c.head_dim), c.rope_scaling));
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
    ATOM_ASSIGN_OR_RETURN(GptOssLayerWeights w, GptOssLayer(checkpoint_, c, i));
    ATOM_ASSIGN_OR_RETURN(l.input_norm, Upload(w.input_norm));
    ATOM_ASSIGN_OR_RETURN(l.post_attn_norm, Upload(w.post_attn_norm));
    ATOM_ASSIGN_OR_RETURN(l.qkv_weight, UploadStacked({w.q_weight, w.k_weight, w.v_weight}));
    ATOM_ASSIGN_OR_RETURN(l.qkv_bias, UploadStacked({w.q_bias, w.k_bias, w.v_bias}));
    ATOM_ASSIGN_OR_RETURN(l.o_weight, Upload(w.o_weight));
    ATOM_ASSIGN_OR_RETURN(l.o_bias, Upload(w.o_bias));
    ATOM_ASSIGN_OR_RETURN(l.sinks, UploadAsF32(w.sinks));
    ATOM_ASSIGN_OR_RETURN(l.router_weight, Upload(w.router_weight));
    ATOM_ASSIGN_OR_RETURN(l.router_bias, UploadAsF32(w.router_bias));
    ATOM_ASSIGN_OR_RETURN(l.experts, cuda::UploadMoeExperts(w.experts, stream_));
    l.sliding_window = w.sliding_window;
    if (kv_cache_dtype_ == DType::kF8E4M3) {
      // Uncalibrated scales, as vLLM's default: 1.0 (models/kv_cache_dtype.h says why).
      const float scales[2] = {1.0f, 1.0f};
      ATOM_ASSIGN_OR_RETURN(l.kv_scales,
                            Upload(Tensor(const_cast<float*>(scales), DType::kF32, {2})));
    }
    for (const DeviceBuffer* b :
         {&l.input_norm, &l.post_attn_norm, &l.qkv_weight, &l.qkv_bias, &l.o_weight, &l.o_bias,
          &l.sinks, &l.router_weight, &l.router_bias})
      weight_bytes_ += b->size();
    weight_bytes_ += l.experts.device_bytes();
  }

  // Each op's variant for this device and model, for the start-up log.
  ops::CudaKernelContext ctx;
  ctx.sm_arch = info_.sm_arch;
  ctx.loaded_image_arch = info_.loaded_image_arch;
  ctx.max_shared_memory_per_block = info_.max_shared_memory_per_block_optin;
  ctx.mxfp4_experts =
      layers_.empty() || layers_[0].experts.view().format == cuda::MoeExpertFormat::kMxfp4;
  ctx.head_dim = int(c.head_dim);
  ctx.q_heads_per_kv_head = int(c.num_attention_heads / c.num_key_value_heads);
  ctx.kv_cache_dtype = kv_cache_dtype_;
  ATOM_ASSIGN_OR_RETURN(ops::CudaKernelSelection selection, ops::SelectCudaKernels(ctx, env));
  choices_ = std::move(selection.choices);
  switch (selection.kernels.moe_experts) {
    case ops::CudaMoeKernel::kStreamTma:
      moe_few_tokens_ = cuda::MoeVariant::kStreamTma;
      break;
    case ops::CudaMoeKernel::kDecode:
      moe_few_tokens_ = cuda::MoeVariant::kDecode;
      break;
    default:  // kStream; bf16 experts ignore it
      moe_few_tokens_ = cuda::MoeVariant::kStream;
  }
  gemv_few_tokens_ = selection.kernels.linear == ops::CudaLinearKernel::kGemvFewTokens;
  // Some ops also choose per step, from the batch's shape.
  for (ops::KernelChoice& choice : choices_) {
    if (choice.op == "paged_attention")
      choice.reason += "; per step: decode_split_kv, prefill_mma or mixed";
    if (choice.op == "sampling")
      choice.reason += "; per step: argmax when every row is plain greedy, else sample_rows";
    if (choice.op == "linear" && gemv_few_tokens_)
      choice.reason += "; per step: the GEMV for 1-4 tokens (the router up to 8), else cuBLASLt";
    if (choice.op == "router_topk" && ctx.mxfp4_experts)
      choice.reason += fmt::format("; inside the MoE routing step for <= {} tokens",
                                   cuda::kMoeFusedRouterMaxTokens);
    if (choice.op == "moe_experts" && ctx.mxfp4_experts)
      choice.reason +=
          fmt::format("; per step: tiled64 from {} pairs per expert, tiled128 from {}",
                      cuda::kMoeDecodeMaxRowsPerExpert + 1, cuda::kMoeTiled128MinRowsPerExpert);
  }
  ATOM_RETURN_IF_ERROR(ReserveStep(max_num_batched_tokens, std::min(max_num_batched_tokens, 256)));
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  ATOM_LOG_INFO(
      "gpt-oss on {}: {:.2f} GB of weights on the device ({} experts), {} KV cache, "
      "decode {}",
      DeviceName(device_), double(weight_bytes_) / 1e9,
      layers_.empty() || layers_[0].experts.view().format == cuda::MoeExpertFormat::kMxfp4
          ? "MXFP4, kept 4-bit"
          : "bf16",
      DTypeName(kv_cache_dtype_), use_graphs_ ? "as CUDA graphs" : "eager (--enforce-eager)");
  return OkStatus();
}

KvCacheSpec GptOssCuda::kv_cache_spec() const {
  KvCacheSpec spec;
  spec.num_layers = int(config_.num_hidden_layers);
  spec.num_kv_heads = int(config_.num_key_value_heads);
  spec.head_dim = int(config_.head_dim);
  spec.dtype = kv_cache_dtype_;
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
  s.kv_bytes_per_token = uint64_t(2) * config_.num_hidden_layers * config_.num_key_value_heads *
                         config_.head_dim * DTypeBits(kv_cache_dtype_) / 8;
  return s;
}

Status GptOssCuda::ReserveStep(int64_t T, int64_t R) {
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads,
                d = c.head_dim, E = c.num_local_experts, k = c.num_experts_per_tok;
  ATOM_RETURN_IF_ERROR(GrowStep(residual_, T * D * 4));
  ATOM_RETURN_IF_ERROR(GrowStep(delta_, T * D * 4));
  ATOM_RETURN_IF_ERROR(GrowStep(normed_, T * D * 2));
  ATOM_RETURN_IF_ERROR(GrowStep(qkv_, T * (Hq + 2 * Hkv) * d * 2));
  ATOM_RETURN_IF_ERROR(GrowStep(q_, T * Hq * d * 2));
  ATOM_RETURN_IF_ERROR(GrowStep(attn_, T * Hq * d * 2));
  ATOM_RETURN_IF_ERROR(GrowStep(router_logits_, T * E * 4));
  ATOM_RETURN_IF_ERROR(GrowStep(expert_indices_, T * k * 4));
  ATOM_RETURN_IF_ERROR(GrowStep(expert_weights_, T * k * 4));
  ATOM_RETURN_IF_ERROR(
      GrowStep(moe_workspace_,
               cuda::MoeWorkspaceBytes(int(T), int(k), int(E), int(D), int(c.intermediate_size))));
  ATOM_RETURN_IF_ERROR(GrowStep(final_rows_, R * D * 2));
  ATOM_RETURN_IF_ERROR(GrowStep(logits_, R * c.vocab_size * 4));
  return OkStatus();
}

StatusOr<GptOssCuda::StepShape> GptOssCuda::PlanStep(int64_t tokens, int64_t seqs, int64_t rows,
                                                     int block_size, int max_blocks_per_seq,
                                                     int max_query_len, int max_seq_len) {
  StepShape step;
  step.tokens = tokens;
  step.seqs = seqs;
  step.rows = rows;
  cuda::PagedAttentionShape shape;
  shape.num_seqs = int(seqs);
  shape.num_tokens = int(tokens);
  shape.num_q_heads = int(config_.num_attention_heads);
  shape.num_kv_heads = int(config_.num_key_value_heads);
  shape.head_dim = int(config_.head_dim);
  shape.block_size = block_size;
  shape.max_blocks_per_seq = max_blocks_per_seq;
  shape.max_query_len = max_query_len;
  shape.max_seq_len = max_seq_len;
  shape.cache_dtype =
      kv_cache_dtype_ == DType::kF8E4M3 ? cuda::PagedKvDType::kFp8E4M3 : cuda::PagedKvDType::kBf16;
  ATOM_ASSIGN_OR_RETURN(step.full, cuda::PlanPagedAttention(info_, shape));
  size_t workspace = step.full.workspace_bytes;
  if (config_.sliding_window > 0) {
    shape.sliding_window = int(config_.sliding_window);
    ATOM_ASSIGN_OR_RETURN(step.sliding, cuda::PlanPagedAttention(info_, shape));
    workspace = std::max(workspace, step.sliding.workspace_bytes);
  }
  ATOM_RETURN_IF_ERROR(GrowStep(attention_workspace_, workspace));
  return step;
}

Status GptOssCuda::Attention(const Layer& l, const Tensor& cache_k, const Tensor& cache_v,
                             const StepShape& step) {
  const int64_t T = step.tokens, D = config_.hidden_size;
  const int Hq = int(config_.num_attention_heads), Hkv = int(config_.num_key_value_heads),
            d = int(config_.head_dim);
  ATOM_RETURN_IF_ERROR(
      Dense(Device2D(normed_, DType::kBF16, T, D),
            Device2D(l.qkv_weight, DType::kBF16, (Hq + 2 * Hkv) * d, D),
            Tensor(l.qkv_bias.data(), DType::kBF16, {int64_t(Hq + 2 * Hkv) * d}, device_),
            Device2D(qkv_, DType::kBF16, T, (Hq + 2 * Hkv) * d)));
  Mark("qkv_gemm");
  cuda::RopeKvShape rope;
  rope.num_tokens = T;
  rope.num_q_heads = Hq;
  rope.num_kv_heads = Hkv;
  rope.head_dim = d;
  rope.num_slots = cache_k.dim(0) * cache_k.dim(1);
  const bool fp8_cache = kv_cache_dtype_ == DType::kF8E4M3;
  const float* k_scale = fp8_cache ? As<float>(l.kv_scales) : nullptr;
  const float* v_scale = fp8_cache ? As<float>(l.kv_scales) + 1 : nullptr;
  if (fp8_cache)
    ATOM_RETURN_IF_ERROR(cuda::RopeWriteKvFp8(
        As<__nv_bfloat16>(qkv_), As<int32_t>(positions_), As<int64_t>(slot_mapping_),
        As<float>(inv_freq_), rope_scale_, rope, As<__nv_bfloat16>(q_), cache_k.data_as<uint8_t>(),
        cache_v.data_as<uint8_t>(), k_scale, v_scale, stream_));
  else
    ATOM_RETURN_IF_ERROR(cuda::RopeWriteKvBf16(
        As<__nv_bfloat16>(qkv_), As<int32_t>(positions_), As<int64_t>(slot_mapping_),
        As<float>(inv_freq_), rope_scale_, rope, As<__nv_bfloat16>(q_),
        cache_k.data_as<__nv_bfloat16>(), cache_v.data_as<__nv_bfloat16>(), stream_));
  Mark("rope_write_kv");
  cuda::PagedAttentionArgs args;
  args.q = As<__nv_bfloat16>(q_);
  args.key_cache = cache_k.data();
  args.value_cache = cache_v.data();
  args.k_scale = k_scale;
  args.v_scale = v_scale;
  args.sinks = As<float>(l.sinks);
  args.out = As<__nv_bfloat16>(attn_);
  args.scale = 1.0f / std::sqrt(float(d));
  args.query_start = As<int32_t>(query_start_);
  args.seq_lens = As<int32_t>(seq_lens_);
  args.positions = As<int32_t>(positions_);
  args.block_tables = As<int32_t>(block_tables_);
  ATOM_RETURN_IF_ERROR(cuda::PagedAttention(args, l.sliding_window > 0 ? step.sliding : step.full,
                                            attention_workspace_.data(),
                                            attention_workspace_.size(), stream_));
  Mark("attention");
  ATOM_RETURN_IF_ERROR(Dense(Device2D(attn_, DType::kBF16, T, int64_t(Hq) * d),
                             Device2D(l.o_weight, DType::kBF16, D, int64_t(Hq) * d),
                             Tensor(l.o_bias.data(), DType::kBF16, {D}, device_),
                             Device2D(delta_, DType::kF32, T, D)));
  Mark("o_gemm");
  return OkStatus();
}

Status GptOssCuda::Dense(const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const Tensor& out) {
  const int64_t T = x.dim(0);
  // The GEMV reads rows in 16-byte chunks: other widths go to cuBLASLt.
  if (!gemv_few_tokens_ || !cuda::DenseGemvPreferred(T, weight.dim(0)) || x.dim(1) % 8 != 0)
    return linear_->Linear(x, weight, bias, out, stream_);
  auto dtype_of = [](const Tensor& t) {
    return t.dtype() == DType::kF32 ? cuda::GemvDType::kF32 : cuda::GemvDType::kBf16;
  };
  cuda::DenseGemvArgs a;
  a.x = x.data_as<__nv_bfloat16>();
  a.x_stride = x.stride(0);
  a.weight = weight.data_as<__nv_bfloat16>();
  a.bias = bias.defined() ? bias.data() : nullptr;
  a.bias_dtype = bias.defined() ? dtype_of(bias) : cuda::GemvDType::kBf16;
  a.out = out.data();
  a.out_dtype = dtype_of(out);
  a.out_stride = out.stride(0);
  a.tokens = int(T);
  a.in = int(x.dim(1));
  a.out_features = int(weight.dim(0));
  return cuda::DenseGemv(a, stream_);
}

Status GptOssCuda::Moe(const Layer& l, int64_t T) {
  const int64_t D = config_.hidden_size, E = config_.num_local_experts;
  const int k = int(config_.num_experts_per_tok);
  ATOM_RETURN_IF_ERROR(Dense(Device2D(normed_, DType::kBF16, T, D),
                             Device2D(l.router_weight, DType::kBF16, E, D),
                             Tensor(l.router_bias.data(), DType::kF32, {E}, device_),
                             Device2D(router_logits_, DType::kF32, T, E)));
  Mark("router");
  // Top-k in the routing step; no combine: the next norm adds the weighted pair outputs to the
  // residual.
  ATOM_RETURN_IF_ERROR(cuda::LaunchMoeExpertsFromLogits(
      l.experts.view(), As<__nv_bfloat16>(normed_), int(T), As<float>(router_logits_), k,
      As<int32_t>(expert_indices_), As<float>(expert_weights_), /*out=*/nullptr,
      moe_workspace_.data(), moe_workspace_.size(), stream_,
      cuda::SelectMoeVariant(l.experts.view(), int(T), k, moe_few_tokens_)));
  Mark("moe_experts");
  return OkStatus();
}

Status GptOssCuda::RunLayers(const StepShape& step, const KvCacheView& cache) {
  const int64_t T = step.tokens, R = step.rows, D = config_.hidden_size, V = config_.vocab_size;
  const float eps = float(config_.rms_norm_eps);
  float* residual = As<float>(residual_);
  ATOM_RETURN_IF_ERROR(cuda::EmbeddingBf16(As<__nv_bfloat16>(embed_tokens_), V, D,
                                           As<int32_t>(token_ids_), T, residual, stream_));
  Mark("embedding");
  // The last MoE block's per-pair outputs, not yet combined into the residual (none before the
  // first layer).
  const int k = int(config_.num_experts_per_tok);
  const float* pending = nullptr;
  auto add_pending_and_norm = [&](const DeviceBuffer& gain) {
    if (pending == nullptr)
      return cuda::FusedAddRmsNorm(residual, nullptr, As<__nv_bfloat16>(gain), eps, T, D,
                                   As<__nv_bfloat16>(normed_), stream_);
    return cuda::FusedCombineAddRmsNorm(residual, pending, As<float>(expert_weights_), k,
                                        As<__nv_bfloat16>(gain), eps, T, D,
                                        As<__nv_bfloat16>(normed_), stream_);
  };
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    ATOM_RETURN_IF_ERROR(add_pending_and_norm(l.input_norm));
    Mark("add_rms_norm");
    ATOM_RETURN_IF_ERROR(Attention(l, cache.key[i], cache.value[i], step));
    ATOM_RETURN_IF_ERROR(cuda::FusedAddRmsNorm(residual, As<float>(delta_),
                                               As<__nv_bfloat16>(l.post_attn_norm), eps, T, D,
                                               As<__nv_bfloat16>(normed_), stream_));
    Mark("add_rms_norm");
    ATOM_RETURN_IF_ERROR(Moe(l, T));
    pending = cuda::MoePairOutputs(moe_workspace_.data(), int(T), k, int(config_.num_local_experts),
                                   int(D), int(config_.intermediate_size));
  }
  ATOM_RETURN_IF_ERROR(add_pending_and_norm(final_norm_));
  Mark("add_rms_norm");
  if (R == 0) return OkStatus();
  ATOM_RETURN_IF_ERROR(cuda::GatherRowsBf16(As<__nv_bfloat16>(normed_), D,
                                            As<int32_t>(logits_indices_), R,
                                            As<__nv_bfloat16>(final_rows_), stream_));
  ATOM_RETURN_IF_ERROR(Dense(Device2D(final_rows_, DType::kBF16, R, D),
                             Device2D(lm_head_, DType::kBF16, V, D), Tensor(),
                             Device2D(logits_, DType::kF32, R, V)));
  Mark("unembedding");
  return OkStatus();
}

Status GptOssCuda::Forward(const ForwardBatch& batch, const KvCacheView& cache,
                           const Tensor& logits) {
  const ops::AttentionMetadata& md = batch.attention;
  const int64_t T = md.num_tokens, S = md.num_seqs, R = batch.num_logits;
  if (int64_t(cache.key.size()) != config_.num_hidden_layers ||
      cache.value.size() != cache.key.size())
    return Internal("KV cache has {} layers, the model {}", cache.key.size(),
                    config_.num_hidden_layers);
  if (cache.key[0].device() != device_ || cache.key[0].dtype() != kv_cache_dtype_)
    return Internal("KV cache is {}, the model was loaded for {} on {}", cache.key[0].ToString(),
                    DTypeName(kv_cache_dtype_), DeviceName(device_));
  ATOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_.index));
  // Graphs hold the cache's addresses too: another cache (a new engine) starts a new epoch.
  cache_pools_.clear();
  for (size_t i = 0; i < cache.key.size(); ++i)
    cache_pools_.insert(cache_pools_.end(), {cache.key[i].data(), cache.value[i].data()});
  if (cache_pools_ != graphs_cache_ || cache.key[0].dim(0) != graphs_cache_blocks_) {
    graphs_cache_.swap(cache_pools_);
    graphs_cache_blocks_ = cache.key[0].dim(0);
    ++buffers_epoch_;
  }

  // The scheduler's hints for the attention plan.
  int max_query_len = 0, max_seq_len = 0;
  for (int64_t s = 0; s < S; ++s) {
    max_query_len = std::max(max_query_len, md.query_start[s + 1] - md.query_start[s]);
    max_seq_len = std::max(max_seq_len, md.seq_lens[s]);
  }
  // A decode step whose every sequence wants its one row of logits replays a graph.
  bool decode = use_graphs_ && max_query_len == 1 && T == S && R == S && S <= kMaxGraphBatch;
  for (int64_t r = 0; decode && r < R; ++r) decode = batch.logits_indices[r] == r;
  if (decode) return ForwardDecodeGraph(batch, cache, logits);

  ATOM_RETURN_IF_ERROR(ReserveStep(T, R));
  // Step kinds by shape, so each table averages like steps (the profiling pass's are apart).
  profiler_->BeginStep(
      fmt::format("{} ({} tokens, {} sequences)", max_query_len > 1 ? "prefill" : "decode", T, S));
  ATOM_RETURN_IF_ERROR(UploadStep(token_ids_, batch.token_ids, size_t(T)));
  ATOM_RETURN_IF_ERROR(UploadStep(positions_, md.positions, size_t(T)));
  ATOM_RETURN_IF_ERROR(UploadStep(slot_mapping_, md.slot_mapping, size_t(T)));
  ATOM_RETURN_IF_ERROR(UploadStep(query_start_, md.query_start, size_t(S + 1)));
  ATOM_RETURN_IF_ERROR(UploadStep(seq_lens_, md.seq_lens, size_t(S)));
  ATOM_RETURN_IF_ERROR(UploadStep(block_tables_, md.block_tables,
                                  size_t(S) * size_t(std::max(md.max_blocks_per_seq, 1))));
  ATOM_RETURN_IF_ERROR(UploadStep(logits_indices_, batch.logits_indices, size_t(R)));
  Mark("metadata_upload");
  ATOM_ASSIGN_OR_RETURN(StepShape step, PlanStep(T, S, R, md.block_size, md.max_blocks_per_seq,
                                                 max_query_len, max_seq_len));
  ATOM_RETURN_IF_ERROR(RunLayers(step, cache));
  ATOM_RETURN_IF_ERROR(LogitsToHost(batch, R, logits));
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  profiler_->EndStep();
  return OkStatus();
}

Status GptOssCuda::LogitsToHost(const ForwardBatch& batch, int64_t rows, const Tensor& logits) {
  if (rows == 0) return OkStatus();
  const int64_t V = config_.vocab_size;
  if (batch.sampling != nullptr) return SampleOnDevice(*batch.sampling, rows);
  if (batch.argmax == nullptr) {
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits.data(), logits_.data(),
                                              size_t(rows * V) * sizeof(float),
                                              cudaMemcpyDeviceToHost, stream_));
    Mark("logits_to_host");
    return OkStatus();
  }
  ATOM_RETURN_IF_ERROR(GrowStep(argmax_, size_t(rows) * sizeof(int32_t)));
  ATOM_RETURN_IF_ERROR(GrowStep(argmax_workspace_, cuda::ArgmaxWorkspaceBytes(rows)));
  ATOM_RETURN_IF_ERROR(cuda::ArgmaxRows(As<float>(logits_), rows, V, V, As<int32_t>(argmax_),
                                        argmax_workspace_.data(), stream_));
  ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(batch.argmax, argmax_.data(),
                                            size_t(rows) * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                            stream_));
  Mark("argmax");
  return OkStatus();
}

Status GptOssCuda::SampleOnDevice(const ops::SamplingRows& sampling, int64_t rows) {
  if (sampling.num_rows != rows)
    return Internal("device sampling of {} rows for {} logits rows", sampling.num_rows, rows);
  const int64_t V = config_.vocab_size;
  ATOM_RETURN_IF_ERROR(sampler_.Sample(sampling, As<float>(logits_), V, V, stream_));
  Mark("sampling");
  return OkStatus();
}

Status GptOssCuda::ForwardDecodeGraph(const ForwardBatch& batch, const KvCacheView& cache,
                                      const Tensor& logits) {
  const ops::AttentionMetadata& md = batch.attention;
  const int S = md.num_seqs, bs = md.block_size;
  int B = 1;  // the batch bucket: the next power of two
  while (B < S) B *= 2;
  // The context bucket (the next power of two, at least 1024) sets the attention plan's KV
  // splits: a plan for the longest context would split short ones into many empty ranges.
  int max_seq_len = 0;
  for (int s = 0; s < S; ++s) max_seq_len = std::max(max_seq_len, md.seq_lens[s]);
  int L = 1024;
  while (L < max_seq_len) L *= 2;
  // Block tables are staged at the width of the context bucket (a graph's fixed row stride),
  // which covers every block a sequence of that bucket reads; the buffer has room for the whole
  // context so that it never moves.
  const int full_width = int((config_.max_position_embeddings + bs - 1) / bs);
  if (md.max_blocks_per_seq > full_width) return Internal("a sequence is longer than the context");
  const int width = std::min(full_width, (L + bs - 1) / bs);
  const int copied = std::min(width, md.max_blocks_per_seq);

  // The padded batch: pads read block 0 and store nothing (slot -1).
  pad_tokens_.assign(B, 0);
  pad_positions_.assign(B, 0);
  pad_slots_.assign(B, -1);
  pad_seq_lens_.assign(B, 1);
  pad_query_start_.resize(B + 1);
  pad_rows_.resize(B);
  pad_block_tables_.assign(size_t(B) * width, 0);
  for (int i = 0; i <= B; ++i) pad_query_start_[i] = i;
  for (int i = 0; i < B; ++i) pad_rows_[i] = i;
  for (int s = 0; s < S; ++s) {
    pad_tokens_[s] = batch.token_ids[s];
    pad_positions_[s] = md.positions[s];
    pad_slots_[s] = md.slot_mapping[s];
    pad_seq_lens_[s] = md.seq_lens[s];
    std::copy_n(md.block_tables + int64_t(s) * md.max_blocks_per_seq, copied,
                pad_block_tables_.begin() + int64_t(s) * width);
  }
  // Room for the largest bucket first, so that buffers do not move between captures.
  ATOM_RETURN_IF_ERROR(ReserveStep(kMaxGraphBatch, kMaxGraphBatch));
  ATOM_RETURN_IF_ERROR(
      GrowStep(block_tables_, size_t(kMaxGraphBatch) * full_width * sizeof(int32_t)));
  for (DeviceBuffer* b : {&token_ids_, &positions_, &seq_lens_, &logits_indices_})
    ATOM_RETURN_IF_ERROR(GrowStep(*b, kMaxGraphBatch * sizeof(int32_t)));
  ATOM_RETURN_IF_ERROR(GrowStep(query_start_, (kMaxGraphBatch + 1) * sizeof(int32_t)));
  ATOM_RETURN_IF_ERROR(GrowStep(slot_mapping_, kMaxGraphBatch * sizeof(int64_t)));
  ATOM_RETURN_IF_ERROR(GrowStep(argmax_, kMaxGraphBatch * sizeof(int32_t)));
  ATOM_RETURN_IF_ERROR(GrowStep(argmax_workspace_, cuda::ArgmaxWorkspaceBytes(kMaxGraphBatch)));

  profiler_->BeginStep(fmt::format("decode graph ({} sequences)", S));
  ATOM_RETURN_IF_ERROR(UploadStep(token_ids_, pad_tokens_.data(), B));
  ATOM_RETURN_IF_ERROR(UploadStep(positions_, pad_positions_.data(), B));
  ATOM_RETURN_IF_ERROR(UploadStep(slot_mapping_, pad_slots_.data(), B));
  ATOM_RETURN_IF_ERROR(UploadStep(query_start_, pad_query_start_.data(), B + 1));
  ATOM_RETURN_IF_ERROR(UploadStep(seq_lens_, pad_seq_lens_.data(), B));
  ATOM_RETURN_IF_ERROR(UploadStep(block_tables_, pad_block_tables_.data(), size_t(B) * width));
  ATOM_RETURN_IF_ERROR(UploadStep(logits_indices_, pad_rows_.data(), B));
  profiler_->Mark("metadata_upload");

  DecodeGraph& graph = graphs_[{B, L}];
  if (graph.exec == nullptr || graph.epoch != buffers_epoch_) {
    if (graph.exec != nullptr) cudaGraphExecDestroy(graph.exec);
    graph.exec = nullptr;
    // Planned for the buckets, so one capture serves every step that falls in them.
    ATOM_ASSIGN_OR_RETURN(StepShape step,
                          PlanStep(B, B, B, bs, width, /*max_query_len=*/1, /*max_seq_len=*/L));
    ATOM_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    capturing_ = true;
    const Status run = RunLayers(step, cache);
    capturing_ = false;
    cudaGraph_t captured = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &captured);
    ATOM_RETURN_IF_ERROR(run);
    ATOM_CUDA_RETURN_IF_ERROR(end);
    const cudaError_t made = cudaGraphInstantiate(&graph.exec, captured, 0);
    cudaGraphDestroy(captured);
    ATOM_CUDA_RETURN_IF_ERROR(made);
    graph.epoch = buffers_epoch_;
  }
  ATOM_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(graph.exec, stream_));
  profiler_->Mark("decode_graph");
  ATOM_RETURN_IF_ERROR(LogitsToHost(batch, S, logits));
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  profiler_->EndStep();
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> CreateGptOssCuda(ModelConfig config, Checkpoint checkpoint,
                                                  int max_num_batched_tokens, bool enforce_eager,
                                                  DType kv_cache_dtype, const ops::EnvLookup& env) {
  ATOM_RETURN_IF_ERROR(CheckGptOssConfig(config));
  auto model = std::make_unique<GptOssCuda>(std::move(config), std::move(checkpoint));
  ATOM_RETURN_IF_ERROR(
      model->Load(std::max(max_num_batched_tokens, 1), enforce_eager, kv_cache_dtype, env));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace atom
