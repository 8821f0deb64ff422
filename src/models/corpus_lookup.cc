#include "models/corpus_lookup.h"

#include <algorithm>
#include <span>

namespace atom {

namespace {

// The logit of the predicted token; every other token gets 0. High enough that sampling at
// temperature 1 picks the prediction (probability 1 - 2e-8 at a 201,088-token vocabulary).
constexpr float kPredictedLogit = 30.0f;

class CorpusLookup final : public Model {
 public:
  CorpusLookup(ModelConfig config, Checkpoint checkpoint, Tensor corpus,
               std::vector<ops::KernelChoice> choices)
      : config_(std::move(config)),
        checkpoint_(std::move(checkpoint)),
        corpus_(corpus.data_as<const int32_t>(), size_t(corpus.numel())),
        choices_(std::move(choices)) {}

  const ModelConfig& config() const override { return config_; }

  KvCacheSpec kv_cache_spec() const override {
    KvCacheSpec spec;
    spec.num_layers = 1;
    spec.num_kv_heads = 1;
    spec.head_dim = 1;
    spec.dtype = DType::kF32;  // token ids < 2^24 are exact in f32
    spec.sliding_window = {0};
    return spec;
  }

  ModelSummary summary() const override {
    ModelSummary s;
    s.parameters = corpus_.size();
    s.tensor_bytes = corpus_.size() * sizeof(int32_t);
    s.kv_bytes_per_token = 2 * sizeof(float);
    return s;
  }

  const std::vector<ops::KernelChoice>& kernel_choices() const override { return choices_; }

  Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                 const Tensor& logits) override {
    const ops::AttentionMetadata& md = batch.attention;
    float* slots = cache.key[0].data_as<float>();
    for (int t = 0; t < md.num_tokens; ++t)
      if (md.slot_mapping[t] >= 0) slots[md.slot_mapping[t]] = float(batch.token_ids[t]);

    const int64_t vocab = config_.vocab_size;
    std::vector<int32_t> context;
    for (int i = 0; i < batch.num_logits; ++i) {
      const int row = batch.logits_indices[i];
      int s = 0;
      while (md.query_start[s + 1] <= row) ++s;
      const int32_t* blocks = md.block_tables + int64_t(s) * md.max_blocks_per_seq;
      context.resize(size_t(md.positions[row]) + 1);
      for (size_t p = 0; p < context.size(); ++p)
        context[p] = int32_t(
            slots[int64_t(blocks[p / md.block_size]) * md.block_size + int64_t(p % md.block_size)]);
      float* out = logits.data_as<float>() + int64_t(i) * vocab;
      std::fill(out, out + vocab, 0.0f);
      const int32_t next = Predict(context);
      if (next >= 0 && next < vocab) out[next] = kPredictedLogit;
    }
    return OkStatus();
  }

 private:
  // The token after the first longest match of a suffix of `context` in the corpus; EOS when
  // nothing matches or the match ends the corpus.
  int32_t Predict(std::span<const int32_t> context) const {
    size_t best_len = 0, best_next = corpus_.size();
    for (size_t next = 1; next < corpus_.size(); ++next) {
      size_t len = 0;
      while (len < next && len < context.size() &&
             corpus_[next - 1 - len] == context[context.size() - 1 - len])
        ++len;
      if (len > best_len) best_len = len, best_next = next;
    }
    if (best_len == 0 || best_next >= corpus_.size())
      return config_.eos_token_ids.empty() ? -1 : int32_t(config_.eos_token_ids.front());
    return corpus_[best_next];
  }

  ModelConfig config_;
  Checkpoint checkpoint_;  // owns the mapping `corpus_` views
  std::span<const int32_t> corpus_;
  std::vector<ops::KernelChoice> choices_;
};

}  // namespace

StatusOr<std::unique_ptr<Model>> CreateCorpusLookup(ModelConfig config, Checkpoint checkpoint,
                                                    ops::KernelSelection kernels) {
  ATOM_ASSIGN_OR_RETURN(Tensor corpus, checkpoint.Get("corpus"));
  if (corpus.dtype() != DType::kI32 || corpus.ndim() != 1 || corpus.numel() < 2)
    return InvalidArgument("tensor 'corpus' in {}: must be i32 [N] with N >= 2, not {}",
                           checkpoint.dir(), corpus.ToString());
  const std::span<const int32_t> ids(corpus.data_as<const int32_t>(), size_t(corpus.numel()));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= config.vocab_size)
      return InvalidArgument("tensor 'corpus' in {}: id {} at {} is outside the vocabulary [0, {})",
                             checkpoint.dir(), ids[i], i, config.vocab_size);
  if (config.max_position_embeddings >= (int64_t(1) << 24))
    return InvalidArgument("config.json: max_position_embeddings must be below 2^24 for {}",
                           config.architecture);
  // Uses no kernels; the selection is reported as made for the engine's log.
  return std::unique_ptr<Model>(new CorpusLookup(std::move(config), std::move(checkpoint), corpus,
                                                 std::move(kernels.choices)));
}

}  // namespace atom
