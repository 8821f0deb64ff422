// Synthetic gpt-oss checkpoints: the plan matches the real configs and tensor inventory, written
// checkpoints load and run with finite, non-degenerate logits, and the bytes are a function of
// the seed alone.
#include "models/synthetic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/engine.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "test_paths.h"
#include "tokenizer/hf_tokenizer_writer.h"

namespace atom {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json ReadJson(const std::string& path) { return json::parse(ReadAll(path)); }

// A temporary output folder, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() : path_(testing::MakeTempDir("synthetic")) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

SyntheticOptions Options(const std::string& preset, const std::string& out_dir) {
  SyntheticOptions o;
  o.preset = preset;
  o.out_dir = out_dir;
  o.seed = 7;
  o.tokenizer_ranks = testing::DataDir() + "/tokenizer/o200k_base.tiktoken";
  o.write_tokenizer_files = WriteO200kHarmonyTokenizerFiles;
  return o;
}

SyntheticPlan Plan(const SyntheticOptions& o) {
  auto plan = PlanSyntheticGptOss(o);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? std::move(*plan) : SyntheticPlan{};
}

void Write(const SyntheticOptions& o) {
  const Status s = WriteSyntheticGptOss(o);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// Loads `dir`, generates 4 greedy tokens for three prompts and checks every logit row is finite
// and not flat. Returns the logits of all rows of all sequences.
std::vector<float> RunGreedy(const std::string& dir, const std::vector<int32_t>& prompt) {
  auto model = LoadModel(dir);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  auto engine = Engine::Create(**model, nullptr, EngineConfig{});
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  struct Result {
    std::vector<int32_t> output_ids;
    std::vector<float> logits;
    int64_t logits_rows = 0;
  };
  const std::vector<std::vector<int32_t>> prompts = {
      prompt, {prompt[0]}, {prompt.back(), prompt[0], 3, 3, 3}};
  std::vector<Result> results(prompts.size());
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.max_tokens = 4;
  greedy.ignore_eos = true;
  RequestOptions with_logits;
  with_logits.return_logits = true;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto id = (*engine)->AddRequest(
        prompts[i], greedy,
        [r = &results[i]](const RequestOutput& o) {
          r->output_ids.insert(r->output_ids.end(), o.token_ids.begin(), o.token_ids.end());
          r->logits.insert(r->logits.end(), o.logits.begin(), o.logits.end());
          r->logits_rows += o.logits_rows;
        },
        with_logits);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
  }
  for (;;) {
    auto more = (*engine)->Step();
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
  }
  const int64_t vocab = (*model)->config().vocab_size;
  std::vector<float> all;
  for (const Result& r : results) {
    EXPECT_EQ(r.output_ids.size(), 4u);
    EXPECT_GT(r.logits_rows, 0);
    for (int64_t row = 0; row < r.logits_rows; ++row) {
      const float* l = r.logits.data() + row * vocab;
      double sum = 0, sum2 = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        EXPECT_TRUE(std::isfinite(l[v])) << dir << " row " << row << " token " << v;
        sum += l[v];
        sum2 += double(l[v]) * l[v];
      }
      const double std = std::sqrt(std::max(0.0, sum2 / vocab - (sum / vocab) * (sum / vocab)));
      EXPECT_GT(std, 0.1) << "flat logits in row " << row;
      EXPECT_LT(std, 100.0) << "exploding logits in row " << row;
    }
    all.insert(all.end(), r.logits.begin(), r.logits.end());
  }
  return all;
}

std::vector<std::string> FilesOf(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Synthetic, TinyLoadsAndGeneratesFiniteLogits) {
  TempDir dir;
  Write(Options("tiny", dir.path()));
  EXPECT_EQ(FilesOf(dir.path()), (std::vector<std::string>{"config.json", "generation_config.json",
                                                           "model-00001-of-00001.safetensors",
                                                           "model.safetensors.index.json"}));
  RunGreedy(dir.path(), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST(Synthetic, TinyConfigsEqualTheFixtures) {
  for (const char* experts : {"mxfp4", "bf16"}) {
    SyntheticOptions o = Options("tiny", "");
    o.experts = experts;
    const SyntheticPlan plan = Plan(o);
    const std::string fixture = testing::FixtureDir(std::string("gpt-oss-tiny-") + experts);
    EXPECT_EQ(json::parse(plan.config_json), ReadJson(fixture + "/model/config.json")) << experts;
    EXPECT_EQ(json::parse(plan.generation_config_json),
              ReadJson(fixture + "/model/generation_config.json"));
    EXPECT_FALSE(plan.writes_tokenizer);
  }
}

TEST(Synthetic, WrittenTensorsAreThePlansAndTheIndexMapsThem) {
  TempDir dir;
  SyntheticOptions o = Options("tiny", dir.path());
  o.max_shard_bytes = 300 << 10;  // several shards
  Write(o);
  const SyntheticPlan plan = Plan(o);
  ASSERT_GT(plan.shard_names.size(), 2u);
  auto ckpt = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->num_files(), plan.shard_names.size());
  EXPECT_EQ(ckpt->total_tensor_bytes(), plan.total_bytes);
  EXPECT_EQ(ckpt->Names().size(), plan.tensors.size());
  for (const SyntheticTensor& t : plan.tensors) {
    auto got = ckpt->Get(t.name, t.dtype, Shape(t.shape));
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(ckpt->FileOf(t.name), plan.shard_names[t.shard]);
  }
  for (uint64_t bytes : plan.shard_bytes) EXPECT_LE(bytes, o.max_shard_bytes);
  const json index = ReadJson(dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], plan.total_bytes);

  // Sharding changes where tensors live, not what they hold.
  TempDir one;
  Write(Options("tiny", one.path()));
  auto single = Checkpoint::Open(one.path());
  ASSERT_TRUE(single.ok());
  for (const SyntheticTensor& t : plan.tensors) {
    const Tensor a = *ckpt->Get(t.name), b = *single->Get(t.name);
    ASSERT_EQ(std::memcmp(a.data(), b.data(), t.bytes), 0) << t.name;
  }
}

TEST(Synthetic, RewritingAFolderReplacesTheEarlierCheckpoint) {
  TempDir dir;
  SyntheticOptions o = Options("tiny", dir.path());
  o.max_shard_bytes = 300 << 10;
  Write(o);
  std::ofstream(dir / "tokenizer.json") << "{}";  // as if an earlier demo had been written here
  std::ofstream(dir / "notes.txt") << "kept";
  o.max_shard_bytes = uint64_t(4) << 30;
  Write(o);
  EXPECT_EQ(FilesOf(dir.path()),
            (std::vector<std::string>{"config.json", "generation_config.json",
                                      "model-00001-of-00001.safetensors",
                                      "model.safetensors.index.json", "notes.txt"}));
  EXPECT_TRUE(LoadModel(dir.path()).ok());
}

TEST(Synthetic, SameSeedSameBytesOtherSeedDiffers) {
  TempDir a, b, c;
  SyntheticOptions o = Options("tiny", a.path());
  Write(o);
  o.out_dir = b.path();
  Write(o);
  o.out_dir = c.path();
  o.seed = 8;
  Write(o);
  const std::vector<std::string> files = FilesOf(a.path());
  ASSERT_EQ(files, FilesOf(b.path()));
  for (const std::string& f : files) EXPECT_TRUE(ReadAll(a / f) == ReadAll(b / f)) << f;
  const std::string shard = "model-00001-of-00001.safetensors";
  EXPECT_FALSE(ReadAll(a / shard) == ReadAll(c / shard));
  EXPECT_EQ(ReadAll(a / "config.json"), ReadAll(c / "config.json"));
}

TEST(Synthetic, Bf16ExpertsLoadAndRun) {
  TempDir dir;
  SyntheticOptions o = Options("tiny", dir.path());
  o.experts = "bf16";
  Write(o);
  const json config = ReadJson(dir / "config.json");
  EXPECT_FALSE(config.contains("quantization_config"));
  auto ckpt = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ckpt.ok());
  EXPECT_TRUE(
      ckpt->Get("model.layers.0.mlp.experts.gate_up_proj", DType::kBF16, {8, 96, 320}).ok());
  EXPECT_TRUE(ckpt->Get("model.layers.0.mlp.experts.down_proj", DType::kBF16, {8, 160, 96}).ok());
  EXPECT_FALSE(ckpt->Contains("model.layers.0.mlp.experts.gate_up_proj_blocks"));
  RunGreedy(dir.path(), {5, 6, 7});
}

TEST(Synthetic, LayersCutKeepsTheFirstLayersBytes) {
  TempDir full, cut;
  Write(Options("tiny", full.path()));
  SyntheticOptions o = Options("tiny", cut.path());
  o.layers = 2;
  Write(o);
  const json config = ReadJson(cut / "config.json");
  EXPECT_EQ(config["num_hidden_layers"], 2);
  EXPECT_EQ(config["layer_types"], json({"sliding_attention", "full_attention"}));
  auto a = Checkpoint::Open(full.path());
  auto b = Checkpoint::Open(cut.path());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(b->Contains("model.layers.2.input_layernorm.weight"));
  for (const std::string& name : b->Names()) {
    const Tensor x = *a->Get(name), y = *b->Get(name);
    ASSERT_EQ(x.nbytes(), y.nbytes());
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.nbytes()), 0) << name;
  }
  RunGreedy(cut.path(), {9, 8, 7});
}

TEST(Synthetic, DeepModelsStayFinite) {
  // 36 layers, as gpt-oss-120b: the residual stream grows by O(1) per layer and the logits
  // (after the final norm) keep a standard deviation near 1.
  TempDir dir;
  SyntheticOptions o = Options("tiny", dir.path());
  o.layers = 36;
  Write(o);
  RunGreedy(dir.path(), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST(Synthetic, DemoLoadsWithItsTokenizerAndRuns) {
  TempDir dir;
  SyntheticStats stats;
  const Status s = WriteSyntheticGptOss(Options("demo", dir.path()), &stats);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(stats.bytes_written, uint64_t(100) << 20);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  auto tok = Tokenizer::FromModelDir(dir.path());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("hello world"), (std::vector<int32_t>{24912, 2375}));
  EXPECT_EQ((*tok)->vocab_size(), 201088);
  const json gen = ReadJson(dir / "generation_config.json");
  EXPECT_EQ(gen["eos_token_id"], json({200002, 199999}));
  RunGreedy(dir.path(), (*tok)->EncodeWithSpecial("<|start|>user<|message|>hello world<|end|>"));
}

TEST(Synthetic, Plan20bIsTheRealInventoryAndConfig) {
  const SyntheticPlan plan = Plan(Options("20b", ""));
  const json inventory = ReadJson(testing::DataDir() + "/configs/gpt-oss-20b.tensors.json");
  EXPECT_EQ(plan.total_bytes, inventory["total_size"].get<uint64_t>());
  EXPECT_EQ(plan.total_bytes, 13761264768u);
  ASSERT_EQ(plan.tensors.size(), inventory["tensors"].size());
  for (const SyntheticTensor& t : plan.tensors) {
    ASSERT_TRUE(inventory["tensors"].contains(t.name)) << t.name;
    const json& want = inventory["tensors"][t.name];
    EXPECT_EQ(want["dtype"], t.dtype == DType::kBF16 ? "BF16" : "U8") << t.name;
    EXPECT_EQ(want["shape"].get<std::vector<int64_t>>(), t.shape) << t.name;
  }
  EXPECT_EQ(json::parse(plan.config_json),
            ReadJson(testing::DataDir() + "/configs/gpt-oss-20b.config.json"));
  EXPECT_EQ(json::parse(plan.generation_config_json),
            ReadJson(testing::DataDir() + "/configs/gpt-oss-20b.generation_config.json"));
  EXPECT_TRUE(plan.writes_tokenizer);
  EXPECT_EQ(plan.shard_names.size(), 4u);
  EXPECT_EQ(plan.shard_names.front(), "model-00001-of-00004.safetensors");
  for (uint64_t bytes : plan.shard_bytes) EXPECT_LE(bytes, uint64_t(4) << 30);
}

TEST(Synthetic, Plan120bIsTheRealSizeAndConfig) {
  const SyntheticPlan plan = Plan(Options("120b", ""));
  EXPECT_EQ(plan.tensors.size(), 687u);
  EXPECT_EQ(plan.total_bytes, 65248815744u);  // spec §1
  EXPECT_EQ(json::parse(plan.config_json),
            ReadJson(testing::DataDir() + "/configs/gpt-oss-120b.config.json"));
  for (uint64_t bytes : plan.shard_bytes) EXPECT_LE(bytes, uint64_t(4) << 30);
}

TEST(Synthetic, Plan20bLayersCutChangesOnlyTheLayerFields) {
  SyntheticOptions o = Options("20b", "");
  o.layers = 1;
  const SyntheticPlan plan = Plan(o);
  json want = ReadJson(testing::DataDir() + "/configs/gpt-oss-20b.config.json");
  want["num_hidden_layers"] = 1;
  want["layer_types"] = {"sliding_attention"};
  EXPECT_EQ(json::parse(plan.config_json), want);
  const json inventory = ReadJson(testing::DataDir() + "/configs/gpt-oss-20b.tensors.json");
  size_t expected = 0;
  for (const auto& [name, t] : inventory["tensors"].items()) {
    const bool global = name.find("layers.") == std::string::npos;
    expected += global || name.find("layers.0.") != std::string::npos;
  }
  EXPECT_EQ(plan.tensors.size(), expected);
  for (const SyntheticTensor& t : plan.tensors) {
    ASSERT_TRUE(inventory["tensors"].contains(t.name)) << t.name;
    EXPECT_EQ(inventory["tensors"][t.name]["shape"].get<std::vector<int64_t>>(), t.shape);
  }
}

TEST(Synthetic, ErrorsNameTheOption) {
  struct Case {
    SyntheticOptions options;
    std::string message;
  };
  std::vector<Case> cases;
  auto with = [](auto f) {
    SyntheticOptions o = Options("tiny", "/nonexistent-unused");
    f(o);
    return o;
  };
  cases.push_back({with([](auto& o) { o.preset = "7b"; }), "unknown synthetic preset '7b'"});
  cases.push_back({with([](auto& o) { o.experts = "fp8"; }), "unknown experts format 'fp8'"});
  cases.push_back({with([](auto& o) {
                     o.preset = "20b";
                     o.layers = 25;
                   }),
                   "exceeds gpt-oss-20b"});
  cases.push_back({with([](auto& o) { o.layers = -1; }), "layers must be >= 0"});
  cases.push_back({with([](auto& o) {
                     o.preset = "demo";
                     o.tokenizer_ranks = "";
                   }),
                   "needs tokenizer_ranks"});
  for (const Case& c : cases) {
    const Status s = WriteSyntheticGptOss(c.options);
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
  }
  EXPECT_FALSE(fs::exists("/nonexistent-unused"));
}

TEST(Synthetic, FillIsIndependentOfChunking) {
  using synthetic::FillBytes;
  using synthetic::InitKind;
  for (InitKind kind : {InitKind::kBf16Normal, InitKind::kMxfp4Codes, InitKind::kMxfp4Scales}) {
    const synthetic::TensorInit init{kind, 0.0f, 0.02f};
    const uint64_t key = synthetic::TensorKey(3, "x");
    std::vector<uint8_t> whole(1000), parts(1000);
    FillBytes(init, key, 0, whole.size(), whole.data());
    const bool even = kind == InitKind::kBf16Normal;
    for (uint64_t begin = 0, step = even ? 2 : 1; begin < parts.size(); step += even ? 2 : 3) {
      const uint64_t n = std::min<uint64_t>(step, parts.size() - begin);
      FillBytes(init, key, begin, n, parts.data() + begin);
      begin += n;
    }
    EXPECT_EQ(whole, parts) << int(kind);
  }
}

TEST(Synthetic, WeightScalesGiveTheTargetStd) {
  // bf16 normals.
  const uint64_t key = synthetic::TensorKey(1, "w");
  std::vector<uint8_t> bytes(2 << 20);
  synthetic::FillBytes({synthetic::InitKind::kBf16Normal, 0.5f, 0.02f}, key, 0, bytes.size(),
                       bytes.data());
  double sum = 0, sum2 = 0;
  const size_t n = bytes.size() / 2;
  for (size_t i = 0; i < n; ++i) {
    const double v = Bf16ToFloat(uint16_t(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
    sum += v, sum2 += v * v;
  }
  EXPECT_NEAR(sum / n, 0.5, 1e-3);
  EXPECT_NEAR(std::sqrt(sum2 / n - (sum / n) * (sum / n)), 0.02, 0.02 * 0.02);
  // MXFP4: uniform codes with the mixed scales, dequantized.
  for (float target : {1.0f / std::sqrt(2880.0f), 1.0f / std::sqrt(96.0f), 0.25f}) {
    const int64_t blocks = 20000;
    std::vector<uint8_t> codes(blocks * 16), scales(blocks);
    synthetic::FillBytes({synthetic::InitKind::kMxfp4Codes}, key, 0, codes.size(), codes.data());
    synthetic::FillBytes({synthetic::InitKind::kMxfp4Scales, 0.0f, target}, key + 1, 0,
                         scales.size(), scales.data());
    double s2 = 0;
    float out[32];
    for (int64_t b = 0; b < blocks; ++b) {
      DequantizeMxfp4Block(codes.data() + 16 * b, scales[b], out);
      for (float v : out) s2 += double(v) * v;
    }
    EXPECT_NEAR(std::sqrt(s2 / (blocks * 32)), target, target * 0.03) << target;
  }
}

}  // namespace
}  // namespace atom
