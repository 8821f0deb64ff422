// CorpusLookupForCausalLM through the engine: greedy decoding continues the corpus from the
// longest matching suffix of the context (read back from the paged KV cache), and stops with EOS
// where the corpus ends or nothing matches.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/engine.h"
#include "models/registry.h"
#include "models/safetensors_writer.h"
#include "test_paths.h"

namespace atom {
namespace {

constexpr int32_t kEos = 99;

std::string WriteModel(std::vector<int32_t> corpus) {
  const std::string dir = testing::MakeTempDir("corpus-lookup");
  std::ofstream(dir + "/config.json") << R"({
    "architectures": ["CorpusLookupForCausalLM"], "vocab_size": 100, "hidden_size": 1,
    "num_hidden_layers": 1, "num_attention_heads": 1, "max_position_embeddings": 4096,
    "eos_token_id": 99})";
  Tensor t(corpus.data(), DType::kI32, {int64_t(corpus.size())});
  EXPECT_TRUE(WriteSafetensors(dir + "/model.safetensors", {{"corpus", t}}).ok());
  return dir;
}

// Greedy continuations of `prompts`, all in one engine (batched, 4-token blocks, 3-token chunks).
std::vector<std::vector<int32_t>> Generate(Model& model,
                                           const std::vector<std::vector<int32_t>>& prompts) {
  EngineConfig config;
  config.block_size = 4;
  config.max_model_len = 256;
  config.num_kv_blocks = 256;
  config.eos_token_ids = {kEos};
  config.scheduler.max_num_batched_tokens = 3;
  auto engine = Engine::Create(model, nullptr, config);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  std::vector<std::vector<int32_t>> out(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = 20;
    auto id = (*engine)->AddRequest(prompts[i], p, [&out, i](const RequestOutput& o) {
      out[i].insert(out[i].end(), o.token_ids.begin(), o.token_ids.end());
    });
    EXPECT_TRUE(id.ok()) << id.status().ToString();
  }
  for (int step = 0; step < 1000; ++step) {
    auto more = (*engine)->Step();
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
  }
  return out;
}

TEST(CorpusLookup, ContinuesTheLongestMatchingSuffix) {
  // "1 2 3" continues with 4 5 and then "2 3 7" … : the longest match decides.
  auto model = LoadModel(WriteModel({1, 2, 3, 4, 5, 9, 2, 3, 7, 8}));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto out = Generate(**model, {{1, 2, 3}, {9, 2, 3}, {2, 3}, {50, 60}, {40, 9}});
  // "1 2 3" → 4 5 9 2 3 then "5 9 2 3" matches best at the second "2 3" → 7 8, then the end.
  EXPECT_EQ(out[0], (std::vector<int32_t>{4, 5, 9, 2, 3, 7, 8, kEos}));
  EXPECT_EQ(out[1], (std::vector<int32_t>{7, 8, kEos}));
  EXPECT_EQ(out[2], (std::vector<int32_t>{4, 5, 9, 2, 3, 7, 8, kEos}));  // first occurrence
  EXPECT_EQ(out[3], (std::vector<int32_t>{kEos}));                       // nothing matches
  EXPECT_EQ(out[4], (std::vector<int32_t>{2, 3, 7, 8, kEos}));
}

TEST(CorpusLookup, RejectsACorpusOutsideTheVocabulary) {
  auto model = LoadModel(WriteModel({1, 2, 100}));
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().ToString().find("'corpus'"), std::string::npos)
      << model.status().ToString();
}

}  // namespace
}  // namespace atom
