// gpt-oss on the CPU backend against Hugging Face transformers (float32, eager) on the two tiny
// fixtures in tests/data, run through the Engine: prompt logits, teacher-forced logits over
// prompt + continuation, decode-path logits, greedy continuations, and batch invariance.
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "test_paths.h"

namespace atom {
namespace {

constexpr double kMaxRelativeError = 1e-4;  // the bound; f32 lands near 1e-6

struct Case {
  std::string name;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> greedy_ids;
};

struct Fixture {
  std::unique_ptr<Model> model;
  std::vector<Case> cases;
  std::unique_ptr<SafetensorsFile> reference;

  // Reference logits `caseN.<kind>` as a [rows, vocab] view.
  Tensor Logits(const Case& c, const std::string& kind) const {
    const SafetensorsEntry* e = reference->Find(c.name + "." + kind);
    EXPECT_NE(e, nullptr) << c.name << "." << kind;
    return reference->View(*e);
  }
};

Fixture LoadFixture(const std::string& name, const LoadOptions& options = {}) {
  Fixture f;
  const std::string dir = testing::FixtureDir(name);
  auto model = LoadModel(dir + "/model", options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (model.ok()) f.model = std::move(*model);
  std::ifstream in(dir + "/cases.json");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str());
  for (const auto& c : j["cases"])
    f.cases.push_back({c["name"], c["prompt_ids"].get<std::vector<int32_t>>(),
                       c["greedy_ids"].get<std::vector<int32_t>>()});
  auto ref = SafetensorsFile::Open(dir + "/reference_logits.safetensors");
  EXPECT_TRUE(ref.ok()) << ref.status().ToString();
  if (ref.ok()) f.reference = std::move(*ref);
  return f;
}

// ‖got − want‖_F / ‖want‖_F over the first `rows` rows.
double RelativeError(const std::vector<float>& got, const Tensor& want, int64_t rows) {
  const int64_t n = rows * want.dim(1);
  const float* w = want.data_as<const float>();
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += (double(got[i]) - w[i]) * (double(got[i]) - w[i]);
    norm += double(w[i]) * w[i];
  }
  return std::sqrt(diff / norm);
}

struct GenerateRequest {
  std::vector<int32_t> prompt_ids;
  int max_tokens = 16;
};

struct GenerateResult {
  std::vector<int32_t> output_ids;
  std::string finish_reason;
  std::vector<float> logits;  // every computed position's next-token logits, [rows, vocab]
  int64_t logits_rows = 0;
};

// Greedy generation of every request in one engine batch, with the logits of every position.
std::vector<GenerateResult> Generate(Model& model, const std::vector<GenerateRequest>& requests,
                                     bool record_logits, int block_size = 16) {
  EngineConfig config;
  config.block_size = block_size;
  auto engine = Engine::Create(model, nullptr, config);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  std::vector<GenerateResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = requests[i].max_tokens;
    p.ignore_eos = true;
    RequestOptions options;
    options.return_logits = record_logits;
    auto id = (*engine)->AddRequest(
        requests[i].prompt_ids, p,
        [r = &results[i]](const RequestOutput& o) {
          r->output_ids.insert(r->output_ids.end(), o.token_ids.begin(), o.token_ids.end());
          r->logits.insert(r->logits.end(), o.logits.begin(), o.logits.end());
          r->logits_rows += o.logits_rows;
          if (o.finish_reason) r->finish_reason = FinishReasonName(*o.finish_reason);
        },
        options);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
  }
  for (;;) {
    auto more = (*engine)->Step();
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
  }
  return results;
}

class GptOssReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {}
  void SetUp() override {
    f_ = LoadFixture(GetParam());
    ASSERT_NE(f_.model, nullptr);
    ASSERT_NE(f_.reference, nullptr);
    ASSERT_EQ(f_.cases.size(), 4u);
  }
  Fixture f_;
};

TEST_P(GptOssReferenceTest, PromptLogitsMatch) {
  for (const Case& c : f_.cases) {
    auto r = Generate(*f_.model, {{c.prompt_ids, 1}}, /*record_logits=*/true);
    ASSERT_EQ(r.size(), 1u);
    const Tensor want = f_.Logits(c, "prompt_logits");
    ASSERT_EQ(r[0].logits_rows, want.dim(0)) << c.name;
    const double err = RelativeError(r[0].logits, want, want.dim(0));
    EXPECT_LT(err, kMaxRelativeError) << c.name;
    fmt::print("{} {}: prompt logits relative error {:.2e}\n", GetParam(), c.name, err);
  }
}

TEST_P(GptOssReferenceTest, TeacherForcedLogitsMatch) {
  for (const Case& c : f_.cases) {
    std::vector<int32_t> ids = c.prompt_ids;
    ids.insert(ids.end(), c.greedy_ids.begin(), c.greedy_ids.end());
    auto r = Generate(*f_.model, {{ids, 1}}, /*record_logits=*/true);
    ASSERT_EQ(r.size(), 1u);
    const Tensor want = f_.Logits(c, "full_logits");
    ASSERT_EQ(r[0].logits_rows, want.dim(0)) << c.name;
    const double err = RelativeError(r[0].logits, want, want.dim(0));
    EXPECT_LT(err, kMaxRelativeError) << c.name;
    fmt::print("{} {}: teacher-forced logits relative error {:.2e}\n", GetParam(), c.name, err);
  }
}

TEST_P(GptOssReferenceTest, GreedyContinuationAndDecodeLogitsMatch) {
  for (const Case& c : f_.cases) {
    const int n = int(c.greedy_ids.size());
    auto r = Generate(*f_.model, {{c.prompt_ids, n}}, /*record_logits=*/true);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].output_ids, c.greedy_ids) << c.name;
    EXPECT_EQ(r[0].finish_reason, "length");
    // Prefill rows then one row per decode step: prompt + n - 1 positions.
    const Tensor want = f_.Logits(c, "full_logits");
    const int64_t rows = int64_t(c.prompt_ids.size()) + n - 1;
    ASSERT_EQ(r[0].logits_rows, rows) << c.name;
    EXPECT_LT(RelativeError(r[0].logits, want, rows), kMaxRelativeError) << c.name;
  }
}

TEST_P(GptOssReferenceTest, BatchOfAllCasesEqualsOneAtATime) {
  std::vector<GenerateRequest> batch;
  for (const Case& c : f_.cases) batch.push_back({c.prompt_ids, int(c.greedy_ids.size())});
  auto together = Generate(*f_.model, batch, /*record_logits=*/true);
  ASSERT_EQ(together.size(), f_.cases.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    auto alone = Generate(*f_.model, {batch[i]}, /*record_logits=*/true);
    ASSERT_EQ(alone.size(), 1u);
    EXPECT_EQ(together[i].output_ids, f_.cases[i].greedy_ids) << f_.cases[i].name;
    EXPECT_EQ(together[i].output_ids, alone[0].output_ids) << f_.cases[i].name;
    // Same kernels, same summation order: bit-identical logits.
    EXPECT_EQ(together[i].logits, alone[0].logits) << f_.cases[i].name;
  }
}

TEST_P(GptOssReferenceTest, BlockSizeDoesNotChangeResults) {
  const Case& c = f_.cases.back();  // the longest prompt crosses many blocks and windows
  auto base = Generate(*f_.model, {{c.prompt_ids, 8}}, true, /*block_size=*/16);
  for (int block_size : {1, 3, 8, 64}) {
    auto other = Generate(*f_.model, {{c.prompt_ids, 8}}, true, block_size);
    ASSERT_EQ(other.size(), 1u);
    EXPECT_EQ(other[0].output_ids, base[0].output_ids) << "block size " << block_size;
    EXPECT_EQ(other[0].logits, base[0].logits) << "block size " << block_size;
  }
}

// The fallback path: every op forced to its naive CPU reference kernel.
TEST_P(GptOssReferenceTest, ReferenceKernelsMatchToo) {
  LoadOptions options;
  options.env = [](std::string_view name) -> std::optional<std::string> {
    if (name.starts_with("ATOM_") && name.ends_with("_KERNEL")) return "cpu_reference";
    return std::nullopt;
  };
  Fixture ref = LoadFixture(GetParam(), options);
  ASSERT_NE(ref.model, nullptr);
  for (const ops::KernelChoice& k : ref.model->kernel_choices()) EXPECT_EQ(k.variant, "cpu_reference");
  const Case& c = ref.cases.back();
  const int n = int(c.greedy_ids.size());
  auto r = Generate(*ref.model, {{c.prompt_ids, n}}, /*record_logits=*/true);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].output_ids, c.greedy_ids);
  const Tensor want = ref.Logits(c, "full_logits");
  EXPECT_LT(RelativeError(r[0].logits, want, r[0].logits_rows), kMaxRelativeError);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GptOssReferenceTest,
                         ::testing::Values("gpt-oss-tiny-mxfp4", "gpt-oss-tiny-bf16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace atom
