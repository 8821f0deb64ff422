// The Engine on the tiny fixtures: greedy outputs match Hugging Face whatever the scheduling
// (prefix caching, chunked prefill, batching, preemption), seeded sampling does not depend on
// the batch, logprobs are the reference's log-softmax, and a randomized workload with aborts
// finishes everything and returns every KV block.
#include "engine/engine.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "engine/sampler.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "test_paths.h"

namespace atom {
namespace {

struct Case {
  std::string name;
  std::vector<int32_t> prompt, greedy;
};

std::vector<Case> LoadCases(const std::string& fixture) {
  std::ifstream in(testing::FixtureDir(fixture) + "/cases.json");
  std::stringstream text;
  text << in.rdbuf();
  std::vector<Case> cases;
  const nlohmann::json j = nlohmann::json::parse(text.str());
  for (const auto& c : j["cases"]) cases.push_back({c["name"], c["prompt_ids"], c["greedy_ids"]});
  return cases;
}

SamplingParams Greedy(int max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

std::pair<int64_t, int> Key(int64_t request_id, int index) { return {request_id, index}; }

// Collects every output of every request.
struct Collector {
  std::map<std::pair<int64_t, int>, std::vector<int32_t>> tokens;
  std::map<std::pair<int64_t, int>, FinishReason> finish;
  std::map<std::pair<int64_t, int>, std::vector<SampleResult>> logprobs, prompt_logprobs;
  OutputCallback Callback() {
    return [this](const RequestOutput& o) {
      auto key = std::make_pair(o.request_id, o.index);
      auto& t = tokens[key];
      t.insert(t.end(), o.token_ids.begin(), o.token_ids.end());
      auto& l = logprobs[key];
      l.insert(l.end(), o.logprobs.begin(), o.logprobs.end());
      if (!o.prompt_logprobs.empty()) prompt_logprobs[key] = o.prompt_logprobs;
      if (o.finish_reason) {
        EXPECT_EQ(finish.count(key), 0u) << "finished twice";
        finish[key] = *o.finish_reason;
      }
    };
  }
};

void RunToCompletion(Engine& engine) {
  for (int i = 0; i < 100000; ++i) {
    auto more = engine.Step();
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) return;
  }
  FAIL() << "engine did not finish";
}

class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto model = LoadModel(testing::FixtureDir(GetParam()) + "/model");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(*model);
    cases_ = LoadCases(GetParam());
    ASSERT_EQ(cases_.size(), 4u);
  }
  std::unique_ptr<Engine> MakeEngine(EngineConfig config) {
    auto engine = Engine::Create(*model_, nullptr, config);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
  std::unique_ptr<Model> model_;
  std::vector<Case> cases_;
};

// A model that picks argmax tokens itself when asked (as the GPU model does on the device), here
// on the host from the wrapped model's logits.
class ArgmaxPickingModel final : public Model {
 public:
  explicit ArgmaxPickingModel(Model& inner) : inner_(inner) {}
  const ModelConfig& config() const override { return inner_.config(); }
  KvCacheSpec kv_cache_spec() const override { return inner_.kv_cache_spec(); }
  ModelSummary summary() const override { return inner_.summary(); }
  const std::vector<ops::KernelChoice>& kernel_choices() const override {
    return inner_.kernel_choices();
  }
  bool SupportsArgmax() const override { return true; }
  Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                 const Tensor& logits) override {
    if (batch.argmax == nullptr) return inner_.Forward(batch, cache, logits);
    ++argmax_steps;
    const int64_t vocab = config().vocab_size;
    HostTensor rows(DType::kF32, {batch.num_logits, vocab});
    ForwardBatch plain = batch;
    plain.argmax = nullptr;
    ATOM_RETURN_IF_ERROR(inner_.Forward(plain, cache, rows.tensor()));
    for (int r = 0; r < batch.num_logits; ++r)
      batch.argmax[r] = GreedySample(rows.data<float>() + int64_t(r) * vocab, vocab);
    return OkStatus();
  }
  int argmax_steps = 0;

 private:
  Model& inner_;
};

// Plain greedy requests take the model's argmax path; a request needing logprobs (or any other
// use of the logits) in the step sends the whole step down the ordinary path. Same tokens.
TEST_P(EngineTest, ModelPickedGreedyTokensEqualHostGreedy) {
  ArgmaxPickingModel model(*model_);
  for (bool with_logprobs : {false, true}) {
    EngineConfig config;
    config.block_size = 4;
    config.scheduler.max_num_batched_tokens = 16;
    auto engine = Engine::Create(model, nullptr, config);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    Collector out;
    std::vector<int64_t> ids;
    for (const Case& c : cases_) {
      SamplingParams p = Greedy(16);
      if (with_logprobs && &c == &cases_.front()) p.logprobs = 2;
      ids.push_back(*(*engine)->AddRequest(c.prompt, p, out.Callback()));
    }
    const int before = model.argmax_steps;
    RunToCompletion(**engine);
    for (size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(out.tokens[Key(ids[i], 0)], cases_[i].greedy) << cases_[i].name;
    if (with_logprobs) {
      EXPECT_EQ(out.logprobs[Key(ids[0], 0)].size(), 16u);
    } else {
      EXPECT_GT(model.argmax_steps, before);
    }
  }
}

// A model that samples the rows itself when asked (as the GPU model does on the device), here on
// the host from the wrapped model's logits: it applies the request's edits to a copy of each row
// as the device does, samples the copy with only the numeric parameters left, and takes the
// logprobs from the raw row. Equal results to the engine's own sampling prove that the request
// carries everything Sample() reads.
class RowSamplingModel final : public Model {
 public:
  explicit RowSamplingModel(Model& inner) : inner_(inner) {}
  const ModelConfig& config() const override { return inner_.config(); }
  KvCacheSpec kv_cache_spec() const override { return inner_.kv_cache_spec(); }
  ModelSummary summary() const override { return inner_.summary(); }
  const std::vector<ops::KernelChoice>& kernel_choices() const override {
    return inner_.kernel_choices();
  }
  bool SupportsSampling() const override { return true; }
  Status Forward(const ForwardBatch& batch, const KvCacheView& cache,
                 const Tensor& logits) override {
    if (batch.sampling == nullptr) return inner_.Forward(batch, cache, logits);
    const ops::SamplingRows& request = *batch.sampling;
    EXPECT_EQ(request.num_rows, batch.num_logits);
    ++sampling_steps;
    const int64_t vocab = config().vocab_size;
    HostTensor rows(DType::kF32, {batch.num_logits, vocab});
    ForwardBatch plain = batch;
    plain.sampling = nullptr;
    ATOM_RETURN_IF_ERROR(inner_.Forward(plain, cache, rows.tensor()));
    for (int r = 0; r < request.num_rows; ++r) {
      const ops::SamplingRow& in = request.rows[r];
      const float* raw = rows.data<float>() + int64_t(r) * vocab;
      std::vector<float> w(raw, raw + vocab);
      for (int j = 0; j < in.num_edits; ++j) {
        const ops::LogitEdit& e = request.edits[in.first_edit + j];
        float& l = w[size_t(e.token)];
        switch (e.kind) {
          case ops::LogitEdit::Kind::kBias:
            l += e.bias;
            break;
          case ops::LogitEdit::Kind::kBan:
            l = -INFINITY;
            break;
          case ops::LogitEdit::Kind::kPenalty:
            if (in.repetition_penalty != 1.0f)
              l = l > 0.0f ? l / in.repetition_penalty : l * in.repetition_penalty;
            if (e.output_count > 0) {
              l -= in.frequency_penalty * float(e.output_count);
              l -= in.presence_penalty;
            }
            break;
        }
      }
      SamplingParams numeric;
      numeric.temperature = in.temperature;
      numeric.top_k = in.top_k;
      numeric.top_p = in.top_p;
      numeric.min_p = in.min_p;
      SampleRow row;
      row.logits = w.data();
      row.params = &numeric;
      row.seed = in.seed;
      row.seq_index = in.seq_index;
      row.position = in.position;
      request.tokens[r] = Sample(row, vocab).token;
      request.logprobs[r] = 0.0f;
      if (in.num_logprobs >= 0) {
        std::vector<TokenLogprob> top;
        ComputeLogprobs(raw, vocab, request.tokens[r], in.num_logprobs, &request.logprobs[r], &top);
        for (int j = 0; j < ops::kMaxTopLogprobs; ++j) {
          const bool set = j < int(top.size());
          request.top_tokens[r * ops::kMaxTopLogprobs + j] = set ? top[j].token : -1;
          request.top_logprobs[r * ops::kMaxTopLogprobs + j] = set ? top[j].logprob : 0.0f;
        }
      }
    }
    return OkStatus();
  }
  int sampling_steps = 0;

 private:
  Model& inner_;
};

// Every sampling option, with the model sampling the rows (device sampling) or the engine
// sampling them on the host: the same tokens and logprobs. Steps that need logits on the host
// (prompt logprobs, an n > 1 request's first token) go the host way; the rest to the model.
TEST_P(EngineTest, ModelSampledTokensEqualHostSampled) {
  RowSamplingModel model(*model_);
  const int64_t vocab = model.config().vocab_size;
  std::map<bool, Collector> outs;
  std::map<bool, std::vector<int64_t>> ids;
  for (const bool device : {false, true}) {
    EngineConfig config;
    config.block_size = 4;
    config.scheduler.max_num_batched_tokens = 16;
    config.device_sampling = device;
    config.device_sampling_min_rows = 1;
    config.eos_token_ids = {int32_t(vocab - 2)};
    auto engine = Engine::Create(model, nullptr, config);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    for (size_t i = 0; i < cases_.size() * 2; ++i) {
      SamplingParams p;
      p.seed = 77 + i;
      p.max_tokens = 12;
      switch (i % 8) {
        case 0:
          p.temperature = 0.9f;
          p.top_p = 0.8f;
          p.logprobs = 3;
          break;
        case 1:
          p.top_k = 5;
          p.min_p = 0.05f;
          break;
        case 2:
          p.repetition_penalty = 1.4f;
          p.frequency_penalty = 0.6f;
          p.presence_penalty = 0.3f;
          break;
        case 3:
          p.logit_bias = {{3, 6.0f}, {int32_t(vocab - 1), -50.0f}};
          p.min_tokens = 6;
          p.stop_token_ids = {5};
          break;
        case 4:
          p.temperature = 0.0f;
          p.frequency_penalty = 1.5f;
          p.logprobs = 0;
          break;
        case 5:
          p.n = 2;
          p.temperature = 1.3f;
          p.top_k = 20;
          break;
        case 6:
          p.prompt_logprobs = 1;
          p.logprobs = 2;
          break;
        default:
          break;  // temperature 1
      }
      ASSERT_TRUE(p.Validate(vocab).ok());
      const Case& c = cases_[i % cases_.size()];
      ids[device].push_back(*(*engine)->AddRequest(c.prompt, p, outs[device].Callback()));
    }
    const int before = model.sampling_steps;
    RunToCompletion(**engine);
    if (device) {
      EXPECT_GT(model.sampling_steps, before);
    } else {
      EXPECT_EQ(model.sampling_steps, before);
    }
  }
  ASSERT_EQ(outs[false].tokens.size(), outs[true].tokens.size());
  for (size_t i = 0; i < ids[false].size(); ++i) {
    for (int index = 0; index < 2; ++index) {
      const auto host = Key(ids[false][i], index), device = Key(ids[true][i], index);
      EXPECT_EQ(outs[true].tokens[device], outs[false].tokens[host]) << i << " " << index;
      const auto& got = outs[true].logprobs[device];
      const auto& want = outs[false].logprobs[host];
      ASSERT_EQ(got.size(), want.size()) << i << " " << index;
      for (size_t t = 0; t < got.size(); ++t) {
        EXPECT_EQ(got[t].token, want[t].token);
        EXPECT_EQ(got[t].logprob, want[t].logprob) << i << " " << index << " " << t;
        EXPECT_EQ(got[t].top_logprobs, want[t].top_logprobs) << i << " " << index << " " << t;
      }
      EXPECT_EQ(outs[true].finish[device], outs[false].finish[host]) << i << " " << index;
    }
  }
}

TEST_P(EngineTest, GreedyMatchesReferenceUnderEverySchedulingMode) {
  for (bool caching : {true, false}) {
    for (bool chunked : {true, false}) {
      for (bool batched : {true, false}) {
        EngineConfig config;
        config.enable_prefix_caching = caching;
        config.scheduler.enable_chunked_prefill = chunked;
        config.max_model_len = 256;
        config.scheduler.max_num_batched_tokens = chunked ? 16 : 256;
        config.block_size = 4;
        auto engine = MakeEngine(config);
        ASSERT_NE(engine, nullptr);
        Collector out;
        std::vector<int64_t> ids;
        for (int rep = 0; rep < 2; ++rep) {  // twice: the second run hits the prefix cache
          for (const Case& c : cases_) {
            auto id = engine->AddRequest(c.prompt, Greedy(16), out.Callback());
            ASSERT_TRUE(id.ok()) << id.status().ToString();
            ids.push_back(*id);
            if (!batched) RunToCompletion(*engine);
          }
          RunToCompletion(*engine);
        }
        const std::string mode =
            fmt::format("caching={} chunked={} batched={}", caching, chunked, batched);
        for (size_t i = 0; i < ids.size(); ++i) {
          const Case& c = cases_[i % cases_.size()];
          EXPECT_EQ(out.tokens[Key(ids[i], 0)], c.greedy) << c.name << " " << mode;
          EXPECT_EQ(out.finish[Key(ids[i], 0)], FinishReason::kLength);
        }
        const EngineStats stats = engine->stats();
        EXPECT_EQ(stats.num_free_kv_blocks, stats.num_kv_blocks) << mode;
        if (caching) EXPECT_GT(stats.prefix_cache_hits, 0) << mode;
      }
    }
  }
}

// Logits computed over a cached prefix are bit-identical to logits computed from scratch, on the
// sliding-window layers too (the fixture's window of 8 is far shorter than the prompts).
TEST_P(EngineTest, PrefixCacheHitsGiveBitIdenticalLogits) {
  EngineConfig config;
  config.block_size = 4;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  const Case& c = cases_[3];  // 100 tokens
  std::vector<std::vector<float>> logits(2);
  std::vector<int64_t> rows(2);
  for (int run = 0; run < 2; ++run) {
    RequestOptions options;
    options.return_logits = true;
    auto id = engine->AddRequest(
        c.prompt, Greedy(8),
        [&, run](const RequestOutput& o) {
          logits[run].insert(logits[run].end(), o.logits.begin(), o.logits.end());
          rows[run] += o.logits_rows;
        },
        options);
    ASSERT_TRUE(id.ok());
    RunToCompletion(*engine);
  }
  EXPECT_EQ(engine->stats().prefix_cache_hits, 96);  // 24 of the 25 blocks
  // The second run computes only the prompt's last block and the decodes: compare those rows.
  const int64_t vocab = model_->config().vocab_size;
  ASSERT_EQ(rows[0], 100 + 7);
  ASSERT_EQ(rows[1], 4 + 7);
  const std::vector<float> tail(logits[0].end() - rows[1] * vocab, logits[0].end());
  EXPECT_EQ(tail, logits[1]);
}

TEST_P(EngineTest, PreemptionUnderATightKvCacheKeepsOutputsExact) {
  EngineConfig config;
  config.block_size = 4;
  config.max_model_len = 128;
  config.num_kv_blocks = 30;  // 120 slots: case3 alone needs 116
  config.scheduler.max_num_batched_tokens = 32;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  Collector out;
  std::vector<int64_t> ids;
  for (const Case& c : cases_)
    ids.push_back(*engine->AddRequest(c.prompt, Greedy(16), out.Callback()));
  RunToCompletion(*engine);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(out.tokens[Key(ids[i], 0)], cases_[i].greedy);
  EXPECT_GT(engine->stats().num_preemptions, 0);
  EXPECT_EQ(engine->stats().num_free_kv_blocks, 30);
}

TEST_P(EngineTest, LogprobsAreTheReferenceLogSoftmax) {
  auto ref =
      SafetensorsFile::Open(testing::FixtureDir(GetParam()) + "/reference_logits.safetensors");
  ASSERT_TRUE(ref.ok());
  auto engine = MakeEngine(EngineConfig{});
  ASSERT_NE(engine, nullptr);
  Collector out;
  const Case& c = cases_[2];
  SamplingParams p = Greedy(16);
  p.logprobs = 3;
  p.prompt_logprobs = 2;
  const int64_t id = *engine->AddRequest(c.prompt, p, out.Callback());
  RunToCompletion(*engine);
  const Tensor full = (*ref)->View(*(*ref)->Find(c.name + ".full_logits"));
  const int64_t vocab = full.dim(1);
  auto log_softmax = [&](int64_t row, int32_t token) {
    const float* l = full.data_as<const float>() + row * vocab;
    double max = l[0], sum = 0;
    for (int64_t v = 0; v < vocab; ++v) max = std::max<double>(max, l[v]);
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(l[v] - max);
    return l[token] - max - std::log(sum);
  };
  const auto& lps = out.logprobs[Key(id, 0)];
  ASSERT_EQ(lps.size(), 16u);
  const int64_t L = int64_t(c.prompt.size());
  for (int k = 0; k < 16; ++k) {
    EXPECT_NEAR(lps[k].logprob, log_softmax(L - 1 + k, c.greedy[k]), 1e-4) << k;
    ASSERT_EQ(lps[k].top_logprobs.size(), 3u);
    EXPECT_EQ(lps[k].top_logprobs[0].token, c.greedy[k]);  // greedy picks the top one
  }
  const auto& plp = out.prompt_logprobs[Key(id, 0)];
  ASSERT_EQ(int64_t(plp.size()), L - 1);
  for (int64_t k = 0; k + 1 < L; ++k)
    EXPECT_NEAR(plp[k].logprob, log_softmax(k, c.prompt[k + 1]), 1e-4) << k;
}

TEST_P(EngineTest, SeededSamplingIgnoresTheRestOfTheBatch) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.max_tokens = 12;
  p.seed = 1234;
  p.n = 3;
  p.ignore_eos = true;
  std::vector<std::vector<int32_t>> alone;
  {
    auto engine = MakeEngine(EngineConfig{});
    Collector out;
    const int64_t id = *engine->AddRequest(cases_[1].prompt, p, out.Callback());
    RunToCompletion(*engine);
    for (int i = 0; i < 3; ++i) alone.push_back(out.tokens[Key(id, i)]);
  }
  EXPECT_NE(alone[0], alone[1]);  // each of the n sequences has its own stream
  auto engine = MakeEngine(EngineConfig{});
  Collector out;
  SamplingParams noise = p;
  noise.seed.reset();
  engine->AddRequest(cases_[3].prompt, noise, out.Callback());
  engine->AddRequest(cases_[0].prompt, noise, out.Callback());
  const int64_t id = *engine->AddRequest(cases_[1].prompt, p, out.Callback());
  engine->AddRequest(cases_[2].prompt, noise, out.Callback());
  RunToCompletion(*engine);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out.tokens[Key(id, i)], alone[i]) << "sequence " << i;
  EXPECT_EQ(engine->stats().num_free_kv_blocks, engine->stats().num_kv_blocks);
}

// Requests of random lengths arrive at random steps; some are aborted at random moments. Every
// request that is not aborted finishes with exactly its greedy continuation computed alone, and
// every KV block comes back.
TEST_P(EngineTest, RandomWorkloadWithAborts) {
  std::mt19937 rng(5);
  const int64_t vocab = model_->config().vocab_size;
  EngineConfig config;
  config.block_size = 4;
  config.num_kv_blocks = 64;
  config.max_model_len = 200;
  config.scheduler.max_num_seqs = 6;
  config.scheduler.max_num_batched_tokens = 24;
  config.enable_prefix_caching = true;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  Collector out;
  struct Sent {
    int64_t id;
    std::vector<int32_t> prompt;
    int max_tokens;
    bool aborted = false;
  };
  std::vector<Sent> sent;
  for (int step = 0; step < 400; ++step) {
    if (sent.size() < 40 && rng() % 2 == 0) {
      std::vector<int32_t> prompt(1 + rng() % 60);
      const int32_t family = int32_t(rng() % 3);  // shared prefixes
      for (size_t i = 0; i < prompt.size(); ++i)
        prompt[i] = i < 12 ? family * 50 + int32_t(i) : int32_t(rng() % vocab);
      const int max_tokens = 1 + int(rng() % 20);
      auto id = engine->AddRequest(prompt, Greedy(max_tokens), out.Callback());
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      sent.push_back({*id, prompt, max_tokens});
    }
    if (!sent.empty() && rng() % 10 == 0) {
      Sent& victim = sent[rng() % sent.size()];
      if (!out.finish.count(Key(victim.id, 0))) {
        engine->Abort(victim.id);
        victim.aborted = true;
      }
    }
    ASSERT_TRUE(engine->Step().ok());
  }
  RunToCompletion(*engine);
  EXPECT_EQ(engine->stats().num_free_kv_blocks, 64);
  EXPECT_EQ(engine->stats().num_running + engine->stats().num_waiting, 0);
  auto reference = MakeEngine(EngineConfig{});
  for (const Sent& s : sent) {
    ASSERT_EQ(out.finish.count(Key(s.id, 0)), 1u) << "request " << s.id << " never finished";
    if (s.aborted) {
      EXPECT_LE(int(out.tokens[Key(s.id, 0)].size()), s.max_tokens);
      continue;
    }
    EXPECT_EQ(out.finish[Key(s.id, 0)], FinishReason::kLength);
    Collector alone;
    const int64_t id = *reference->AddRequest(s.prompt, Greedy(s.max_tokens), alone.Callback());
    RunToCompletion(*reference);
    EXPECT_EQ(out.tokens[Key(s.id, 0)], alone.tokens[Key(id, 0)]) << "request " << s.id;
  }
}

// 16 requests share a 64-token prefix (a system prompt, say) and differ in 8 tokens: after the
// first, each finds its prefix in the cache and computes only its own tokens.
TEST_P(EngineTest, SharedPrefixWorkloadHitsTheCache) {
  EngineConfig config;
  config.block_size = 16;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  std::mt19937 rng(3);
  const int64_t vocab = model_->config().vocab_size;
  std::vector<int32_t> prefix(64);
  for (int32_t& t : prefix) t = int32_t(rng() % vocab);
  Collector out;
  for (int r = 0; r < 16; ++r) {
    std::vector<int32_t> prompt = prefix;
    for (int i = 0; i < 8; ++i) prompt.push_back(int32_t(rng() % vocab));
    ASSERT_TRUE(engine->AddRequest(prompt, Greedy(4), out.Callback()).ok());
    RunToCompletion(*engine);  // one after the other, as chat turns arrive
  }
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.prefix_cache_hits, 15 * 64);
  EXPECT_EQ(stats.prompt_tokens_computed, 72 + 15 * 8);
  fmt::print(
      "shared prefix: {} of {} looked-up prompt tokens hit ({:.0f}%), {} of {} prompt "
      "tokens computed ({:.0f}% saved)\n",
      stats.prefix_cache_hits, stats.prefix_cache_queries,
      100.0 * double(stats.prefix_cache_hits) / double(stats.prefix_cache_queries),
      stats.prompt_tokens_computed, 16 * 72,
      100.0 * (1.0 - double(stats.prompt_tokens_computed) / (16 * 72)));
}

// Making the third token of case 0's greedy continuation an EOS id stops there (the stop token
// is part of the output) unless the request ignores EOS.
TEST_P(EngineTest, EosAndStopTokenIdsEndSequences) {
  const std::vector<int32_t>& g = cases_[0].greedy;
  ASSERT_NE(g[2], g[0]);
  ASSERT_NE(g[2], g[1]);
  EngineConfig config;
  config.eos_token_ids = {g[2]};
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  Collector out;
  SamplingParams stops = Greedy(10);
  stops.ignore_eos = false;
  SamplingParams ignores = Greedy(10);
  SamplingParams stop_id = Greedy(10);
  stop_id.stop_token_ids = {g[1]};
  SamplingParams min_tokens = stops;
  min_tokens.min_tokens = 5;
  const int64_t a = *engine->AddRequest(cases_[0].prompt, stops, out.Callback());
  const int64_t b = *engine->AddRequest(cases_[0].prompt, ignores, out.Callback());
  const int64_t c = *engine->AddRequest(cases_[0].prompt, stop_id, out.Callback());
  const int64_t d = *engine->AddRequest(cases_[0].prompt, min_tokens, out.Callback());
  RunToCompletion(*engine);
  EXPECT_EQ(out.tokens[Key(a, 0)], (std::vector<int32_t>{g[0], g[1], g[2]}));
  EXPECT_EQ(out.finish[Key(a, 0)], FinishReason::kStop);
  EXPECT_EQ(out.tokens[Key(b, 0)].size(), 10u);
  EXPECT_EQ(out.finish[Key(b, 0)], FinishReason::kLength);
  EXPECT_EQ(out.tokens[Key(c, 0)], (std::vector<int32_t>{g[0], g[1]}));
  // min_tokens bans the EOS id for the first 5 tokens, so the sequence runs past position 2.
  EXPECT_GE(out.tokens[Key(d, 0)].size(), 5u);
  EXPECT_NE(out.tokens[Key(d, 0)][2], g[2]);
}

TEST_P(EngineTest, RejectsBadRequests) {
  EngineConfig config;
  config.max_model_len = 64;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  auto expect_error = [&](std::vector<int32_t> prompt, SamplingParams p, std::string needle) {
    auto id = engine->AddRequest(std::move(prompt), p, nullptr);
    ASSERT_FALSE(id.ok()) << needle;
    EXPECT_NE(id.status().message().find(needle), std::string::npos) << id.status().message();
  };
  expect_error({}, Greedy(4), "prompt: must not be empty");
  expect_error({1, 5000}, Greedy(4), "outside the vocabulary");
  expect_error(std::vector<int32_t>(64, 1), Greedy(4), "leave no room in the context of 64");
  SamplingParams bad = Greedy(4);
  bad.top_p = 2;
  expect_error({1}, bad, "top_p");
  SamplingParams stop = Greedy(4);
  stop.stop = {"x"};
  expect_error({1}, stop, "need a tokenizer");
  auto text = engine->AddRequest(std::string_view("hello"), Greedy(4), nullptr);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("text prompts need a tokenizer"), std::string::npos);
}

TEST_P(EngineTest, BackgroundLoopServesConcurrentCallers) {
  auto engine = MakeEngine(EngineConfig{});
  ASSERT_NE(engine, nullptr);
  engine->Start();
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, std::vector<int32_t>> tokens;
  int done = 0;
  std::vector<std::thread> callers;
  std::vector<int64_t> ids(8);
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      auto id = engine->AddRequest(cases_[t % 4].prompt, Greedy(16), [&](const RequestOutput& o) {
        std::lock_guard<std::mutex> lock(mu);
        auto& v = tokens[o.request_id];
        v.insert(v.end(), o.token_ids.begin(), o.token_ids.end());
        if (o.finish_reason) {
          ++done;
          cv.notify_all();
        }
      });
      ASSERT_TRUE(id.ok());
      ids[t] = *id;
    });
  }
  for (auto& c : callers) c.join();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 8; }));
  for (int t = 0; t < 8; ++t) EXPECT_EQ(tokens[ids[t]], cases_[t % 4].greedy);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineTest,
                         ::testing::Values("gpt-oss-tiny-mxfp4", "gpt-oss-tiny-bf16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace atom
