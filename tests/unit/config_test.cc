// config.json / generation_config.json parsing: the real gpt-oss files and malformed ones.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/config.h"
#include "test_paths.h"

namespace atom {
namespace {

std::string ReadData(const std::string& name) {
  std::ifstream in(testing::DataDir() + "/configs/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ModelConfig, ParsesEveryFieldOfTheRealGptOss20bConfig) {
  auto c = ParseModelConfig(ReadData("gpt-oss-20b.config.json"), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, "GptOssForCausalLM");
  EXPECT_EQ(c->model_type, "gpt_oss");
  EXPECT_EQ(c->num_hidden_layers, 24);
  EXPECT_EQ(c->num_local_experts, 32);
  EXPECT_EQ(c->num_experts_per_tok, 4);
  EXPECT_EQ(c->vocab_size, 201088);
  EXPECT_EQ(c->hidden_size, 2880);
  EXPECT_EQ(c->intermediate_size, 2880);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_attention_heads, 64);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->attention_dropout, 0.0);
  EXPECT_EQ(c->sliding_window, 128);
  ASSERT_EQ(c->layer_types.size(), 24u);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(c->is_sliding(i), i % 2 == 0) << i;
  EXPECT_EQ(c->rope_theta, 150000.0);
  EXPECT_EQ(c->rope_scaling.type, ops::RopeType::kYarn);
  EXPECT_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_EQ(c->rope_scaling.beta_fast, 32.0);
  EXPECT_EQ(c->rope_scaling.beta_slow, 1.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_FALSE(c->rope_scaling.truncate);
  EXPECT_EQ(c->initial_context_length, 4096);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_EQ(c->swiglu_limit, 7.0);
  EXPECT_EQ(c->hidden_act, "silu");
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{200002});
  EXPECT_EQ(c->pad_token_id, 199999);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c->router_aux_loss_coef, 0.9);
  EXPECT_FALSE(c->output_router_logits);
  EXPECT_DOUBLE_EQ(c->initializer_range, 0.02);
  EXPECT_TRUE(c->use_cache);
  EXPECT_EQ(c->transformers_version, "4.55.0.dev0");
  ASSERT_TRUE(c->quantization.has_value());
  EXPECT_EQ(c->quantization->quant_method, "mxfp4");
  EXPECT_EQ(c->quantization->modules_to_not_convert,
            (std::vector<std::string>{"model.layers.*.self_attn", "model.layers.*.mlp.router",
                                      "model.embed_tokens", "lm_head"}));
}

TEST(ModelConfig, Parses120bConfig) {
  auto c = ParseModelConfig(ReadData("gpt-oss-120b.config.json"), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->num_hidden_layers, 36);
  EXPECT_EQ(c->num_local_experts, 128);
  EXPECT_EQ(c->layer_types.size(), 36u);
}

TEST(ModelConfig, AcceptsTheNewerRopeParametersSpelling) {
  auto c = ParseModelConfig(R"({
    "architectures": ["GptOssForCausalLM"], "vocab_size": 10, "hidden_size": 64,
    "num_hidden_layers": 1, "num_attention_heads": 1, "max_position_embeddings": 131072,
    "rope_parameters": {"rope_type": "yarn", "rope_theta": 150000, "factor": 32.0,
                        "beta_fast": 32.0, "beta_slow": 1.0,
                        "original_max_position_embeddings": 4096, "truncate": false}})",
                            "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_theta, 150000.0);
  EXPECT_EQ(c->rope_scaling.type, ops::RopeType::kYarn);
  EXPECT_FALSE(c->rope_scaling.truncate);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 4096);
}

struct BadConfig {
  std::string patch_key;    // field replaced (or removed when value is empty)
  std::string patch_value;  // JSON text
  std::string message;      // must appear in the error
};

class ModelConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ModelConfigErrors, NameTheFileAndField) {
  nlohmann::json j = nlohmann::json::parse(ReadData("gpt-oss-20b.config.json"));
  const BadConfig& bad = GetParam();
  if (bad.patch_value.empty()) j.erase(bad.patch_key);
  else j[bad.patch_key] = nlohmann::json::parse(bad.patch_value);
  auto c = ParseModelConfig(j.dump(), "/models/x/config.json");
  ASSERT_FALSE(c.ok()) << bad.patch_key;
  EXPECT_NE(c.status().message().find("/models/x/config.json"), std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find(bad.message), std::string::npos) << c.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ModelConfigErrors,
    ::testing::Values(
        BadConfig{"hidden_size", "\"2880\"", "field 'hidden_size' must be an integer"},
        BadConfig{"hidden_size", "", "required field 'hidden_size' is missing"},
        BadConfig{"vocab_size", "0", "field 'vocab_size' must be positive"},
        BadConfig{"architectures", "[]", "field 'architectures'"},
        BadConfig{"layer_types", "[\"sliding_attention\"]", "'layer_types' has 1 entries"},
        BadConfig{"layer_types", "[1, 2]", "field 'layer_types' must be a list of strings"},
        BadConfig{"num_key_value_heads", "7", "not a multiple of num_key_value_heads"},
        BadConfig{"num_experts_per_tok", "5", "num_experts_per_tok (5) and experts_per_token"},
        BadConfig{"rope_scaling", "{\"rope_type\": \"dynamic\", \"factor\": 2}", "rope_type"},
        BadConfig{"rope_scaling", "{\"rope_type\": \"yarn\"}", "'factor' is missing"},
        BadConfig{"rope_scaling", "[1]", "field 'rope_scaling' must be an object"},
        BadConfig{"quantization_config", "{\"modules_to_not_convert\": []}", "quant_method"},
        BadConfig{"eos_token_id", "\"x\"", "must be an integer or a list of integers"}));

TEST(ModelConfig, NotJsonIsAnError) {
  auto c = ParseModelConfig("{not json", "dir/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "dir/config.json: not valid JSON");
  EXPECT_FALSE(ParseModelConfig("[1,2]", "c.json").ok());
}

TEST(GenerationConfig, ParsesTheRealFile) {
  auto g = ParseGenerationConfig(ReadData("gpt-oss-20b.generation_config.json"), "g.json");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->bos_token_id, 199998);
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{200002, 199999}));
  EXPECT_EQ(g->pad_token_id, 199999);
  EXPECT_TRUE(g->do_sample);
  EXPECT_FALSE(g->temperature.has_value());
}

TEST(GenerationConfig, MissingFileGivesDefaults) {
  auto g = LoadGenerationConfig(testing::MakeTempDir("atom-genconfig"));
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->eos_token_ids.empty());
}

}  // namespace
}  // namespace atom
