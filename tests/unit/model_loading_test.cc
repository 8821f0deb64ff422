// Loading a model: bad configs and checkpoints give errors naming the field, tensor and file.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/registry.h"
#include "models/safetensors.h"
#include "models/safetensors_writer.h"
#include "test_paths.h"

namespace atom {
namespace {

namespace fs = std::filesystem;

// A writable copy of a fixture's model folder.
std::string CopyFixture(const std::string& name) {
  const std::string dir = testing::MakeTempDir("atom-model");
  for (const auto& e : fs::directory_iterator(testing::FixtureDir(name) + "/model"))
    fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
  for (const auto& e : fs::directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  return dir;
}

void EditConfig(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = dir + "/config.json";
  nlohmann::json j;
  {
    std::ifstream in(path);
    in >> j;
  }
  edit(j);
  std::ofstream(path) << j.dump(2);
}

// Rewrites model.safetensors through `edit`, which may drop or replace tensors.
void EditTensors(const std::string& dir,
                 const std::function<void(std::vector<NamedTensor>&)>& edit) {
  const std::string path = dir + "/model.safetensors";
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  std::vector<NamedTensor> tensors;
  for (const SafetensorsEntry& e : (*file)->header().entries)
    tensors.push_back({e.name, (*file)->View(e)});
  edit(tensors);
  ASSERT_TRUE(WriteSafetensors(dir + "/rewritten.safetensors", tensors).ok());
  file->reset();
  fs::rename(dir + "/rewritten.safetensors", path);
}

std::string LoadError(const std::string& dir) {
  auto model = LoadModel(dir);
  EXPECT_FALSE(model.ok());
  return model.ok() ? "" : model.status().message();
}

TEST(ModelLoading, FixturesLoad) {
  for (const char* name : {"gpt-oss-tiny-mxfp4", "gpt-oss-tiny-bf16"}) {
    auto model = LoadModel(testing::FixtureDir(name) + "/model");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    EXPECT_EQ((*model)->config().num_hidden_layers, 4);
    EXPECT_EQ((*model)->kv_cache_spec().sliding_window, (std::vector<int>{8, 0, 8, 0}));
  }
}

TEST(ModelLoading, UnknownArchitectureListsSupportedOnes) {
  const std::string dir = CopyFixture("gpt-oss-tiny-mxfp4");
  EditConfig(dir, [](nlohmann::json& j) { j["architectures"] = {"LlamaForCausalLM"}; });
  const std::string msg = LoadError(dir);
  EXPECT_NE(msg.find("\"LlamaForCausalLM\" is not supported"), std::string::npos) << msg;
  const size_t list = msg.find("supported: ");
  ASSERT_NE(list, std::string::npos) << msg;
  EXPECT_NE(msg.find("GptOssForCausalLM", list), std::string::npos) << msg;
  EXPECT_NE(msg.find("CorpusLookupForCausalLM", list), std::string::npos) << msg;
}

TEST(ModelLoading, ShapeDisagreeingWithConfigNamesTensorAndFile) {
  const std::string dir = CopyFixture("gpt-oss-tiny-mxfp4");
  EditConfig(dir, [](nlohmann::json& j) { j["vocab_size"] = 2048; });
  const std::string msg = LoadError(dir);
  EXPECT_NE(msg.find("model.embed_tokens.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2048, 96]"), std::string::npos) << msg;
}

TEST(ModelLoading, MissingTensorIsNamed) {
  const std::string dir = CopyFixture("gpt-oss-tiny-mxfp4");
  EditTensors(dir, [](std::vector<NamedTensor>& t) {
    std::erase_if(t, [](const NamedTensor& n) { return n.name == "model.layers.2.self_attn.sinks"; });
  });
  const std::string msg = LoadError(dir);
  EXPECT_NE(msg.find("model.layers.2.self_attn.sinks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(ModelLoading, WrongDtypeIsNamed) {
  const std::string dir = CopyFixture("gpt-oss-tiny-bf16");
  std::vector<float> f32(4, 0.5f);
  EditTensors(dir, [&](std::vector<NamedTensor>& t) {
    for (NamedTensor& n : t)
      if (n.name == "model.layers.1.self_attn.sinks")
        n.tensor = Tensor(f32.data(), DType::kF32, {4});
  });
  const std::string msg = LoadError(dir);
  EXPECT_NE(msg.find("model.layers.1.self_attn.sinks"), std::string::npos) << msg;
}

TEST(ModelLoading, QuantizedConfigWithBf16ExpertsIsAnError) {
  const std::string dir = CopyFixture("gpt-oss-tiny-bf16");
  EditConfig(dir, [](nlohmann::json& j) {
    j["quantization_config"] = {{"quant_method", "mxfp4"}};
  });
  const std::string msg = LoadError(dir);
  EXPECT_NE(msg.find("gate_up_proj_blocks"), std::string::npos) << msg;
}

TEST(ModelLoading, UnsupportedQuantMethodIsAnError) {
  const std::string dir = CopyFixture("gpt-oss-tiny-mxfp4");
  EditConfig(dir, [](nlohmann::json& j) { j["quantization_config"]["quant_method"] = "gptq"; });
  EXPECT_NE(LoadError(dir).find("\"gptq\" is not supported"), std::string::npos);
}

TEST(ModelLoading, MissingDirectoryNamesConfigPath) {
  const std::string msg = LoadError("/nonexistent/atom-model");
  EXPECT_NE(msg.find("/nonexistent/atom-model/config.json"), std::string::npos) << msg;
}

TEST(ModelLoading, TruncatedCheckpointIsAnErrorNotACrash) {
  const std::string dir = CopyFixture("gpt-oss-tiny-mxfp4");
  fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") / 2);
  const std::string msg = LoadError(dir);
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
}

}  // namespace
}  // namespace atom
