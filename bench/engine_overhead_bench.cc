// Engine overhead per step on the CPU: scheduling, batch building, sampling and bookkeeping,
// with the model's forward replaced by a stand-in that only writes logits. Prints the median
// step time at 256 running sequences, for a small and the real (201,088) vocabulary.
#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "engine/engine.h"

namespace atom {
namespace {

// A model whose forward only writes logits: one realistic row (Gaussian, std 3: a peaked,
// LLM-like distribution), rotated by the input token, so every engine path but the math runs as
// in production. Its own time is measured and subtracted.
class NullModel final : public Model {
 public:
  explicit NullModel(int64_t vocab) : row_(vocab) {
    uint64_t x = 88172645463325252ull;
    for (float& v : row_) {  // sum of uniforms ~ Gaussian
      float s = 0;
      for (int k = 0; k < 4; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s += float(x >> 40) / float(1 << 24) - 0.5f;
      }
      v = 3.0f * s * 1.732f;
    }
    config_.architecture = "Null";
    config_.vocab_size = vocab;
    config_.num_hidden_layers = 1;
    config_.num_key_value_heads = 1;
    config_.head_dim = 8;
    config_.max_position_embeddings = 1 << 16;
  }
  const ModelConfig& config() const override { return config_; }
  KvCacheSpec kv_cache_spec() const override { return {1, 1, 8, DType::kF32, {0}}; }
  ModelSummary summary() const override { return {}; }
  const std::vector<ops::KernelChoice>& kernel_choices() const override { return choices_; }
  Status Forward(const ForwardBatch& batch, const KvCacheView&, const Tensor& logits) override {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t V = config_.vocab_size;
    for (int r = 0; r < batch.num_logits; ++r) {
      float* row = logits.data_as<float>() + int64_t(r) * V;
      const int64_t shift = (batch.token_ids[batch.logits_indices[r]] * 7919 + 1) % V;
      std::memcpy(row, row_.data() + shift, (V - shift) * sizeof(float));
      std::memcpy(row + (V - shift), row_.data(), shift * sizeof(float));
    }
    forward_us += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                      .count();
    return OkStatus();
  }
  double forward_us = 0;

 private:
  std::vector<float> row_;
  ModelConfig config_;
  std::vector<ops::KernelChoice> choices_;
};

void Measure(int64_t vocab, int seqs, bool sampled) {
  NullModel model(vocab);
  EngineConfig config;
  config.scheduler.max_num_seqs = seqs;
  config.max_model_len = 4096;
  auto engine = Engine::Create(model, nullptr, config);
  SamplingParams p;
  p.temperature = sampled ? 0.8f : 0.0f;
  p.top_p = sampled ? 0.9f : 1.0f;
  p.max_tokens = 2000;
  p.ignore_eos = true;
  for (int i = 0; i < seqs; ++i) {
    std::vector<int32_t> prompt(64);
    for (int t = 0; t < 64; ++t) prompt[t] = (i * 131 + t) % int32_t(vocab);
    (void)(*engine)->AddRequest(prompt, p, [](const RequestOutput&) {});
  }
  for (int i = 0; i < 5; ++i) (void)(*engine)->Step();  // prefill, warm-up
  std::vector<double> us;
  for (int i = 0; i < 100; ++i) {
    model.forward_us = 0;
    const auto t0 = std::chrono::steady_clock::now();
    (void)(*engine)->Step();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                     .count() -
                 model.forward_us);
  }
  std::sort(us.begin(), us.end());
  fmt::print("| {:>7} | {:>4} | {:<22} | {:>9.0f} | {:>8.2f} |\n", vocab, seqs,
             sampled ? "T=0.8, top-p 0.9" : "greedy", us[us.size() / 2],
             us[us.size() / 2] / seqs);
}

}  // namespace
}  // namespace atom

int main() {
  fmt::print("| vocab | seqs | sampling | engine µs per step (median of 100, model excluded) | "
             "µs per sequence |\n");
  fmt::print("| --- | --- | --- | --- | --- |\n");
  for (int64_t vocab : {1024, 201088})
    for (bool sampled : {false, true}) atom::Measure(vocab, 256, sampled);
}
