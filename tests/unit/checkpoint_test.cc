#include "models/checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "safetensors_builder.h"
#include "test_paths.h"

namespace atom {
namespace {

using ::atom::testing::BuildSafetensors;
using ::atom::testing::HasText;
using ::atom::testing::PatternBytes;
using ::atom::testing::WriteBytes;

std::string FixtureModelDir() { return atom::testing::FixtureDir("gpt-oss-tiny-mxfp4") + "/model"; }

TEST(CheckpointTest, OpensFixture) {
  auto r = Checkpoint::Open(FixtureModelDir());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Checkpoint& ckpt = *r;
  EXPECT_EQ(ckpt.dir(), FixtureModelDir());
  EXPECT_EQ(ckpt.num_files(), 1u);
  const std::vector<std::string> names = ckpt.Names();
  EXPECT_EQ(names.size(), 79u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.front(), "lm_head.weight");
  EXPECT_EQ(ckpt.total_tensor_bytes(), 1805856u);  // file size - 8 - header
  EXPECT_TRUE(ckpt.Contains("model.norm.weight"));
  EXPECT_FALSE(ckpt.Contains("model.norm"));
  EXPECT_EQ(ckpt.FileOf("model.norm.weight"), "model.safetensors");
  EXPECT_EQ(ckpt.FileOf("nope"), "");

  auto q = ckpt.Get("model.layers.0.self_attn.q_proj.weight", DType::kBF16, Shape{256, 96});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->shape(), (Shape{256, 96}));
  auto blocks =
      ckpt.Get("model.layers.2.mlp.experts.gate_up_proj_blocks", DType::kU8, Shape{8, 320, 3, 16});
  ASSERT_TRUE(blocks.ok()) << blocks.status().ToString();
  EXPECT_EQ(blocks->nbytes(), 8u * 320 * 3 * 16);
  auto sinks = ckpt.Get("model.layers.0.self_attn.sinks");
  ASSERT_TRUE(sinks.ok());
  uint16_t first;
  std::memcpy(&first, sinks->data(), 2);
  EXPECT_EQ(first, 0xBDB0);
}

TEST(CheckpointTest, GetWrongShapeNamesTensorAndFile) {
  auto ckpt = Checkpoint::Open(FixtureModelDir());
  ASSERT_TRUE(ckpt.ok());
  auto r = ckpt->Get("model.layers.0.self_attn.q_proj.weight", DType::kBF16, Shape{128, 96});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight' has shape "
            "[256, 96] but the config implies [128, 96]");
}

TEST(CheckpointTest, GetWrongDtypeNamesTensorAndFile) {
  auto ckpt = Checkpoint::Open(FixtureModelDir());
  ASSERT_TRUE(ckpt.ok());
  auto r = ckpt->Get("model.norm.weight", DType::kF32, Shape{96});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "model.safetensors: tensor 'model.norm.weight' has dtype BF16 but the model expects "
            "F32");
}

TEST(CheckpointTest, GetMissingTensor) {
  auto ckpt = Checkpoint::Open(FixtureModelDir());
  ASSERT_TRUE(ckpt.ok());
  for (auto r : {ckpt->Get("x"), ckpt->Get("x", DType::kBF16, Shape{1})}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(r.status().message(),
              "tensor 'x' needed by the model is missing from checkpoint " + FixtureModelDir());
  }
}

TEST(CheckpointTest, MovedCheckpointKeepsViewsValid) {
  auto r = Checkpoint::Open(FixtureModelDir());
  ASSERT_TRUE(r.ok());
  auto before = r->Get("lm_head.weight");
  ASSERT_TRUE(before.ok());
  Checkpoint moved = std::move(*r);
  auto after = moved.Get("lm_head.weight");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(before->data(), after->data());
  EXPECT_EQ(moved.FileOf("lm_head.weight"), "model.safetensors");
}

// ---- directories written by the tests ---------------------------------------------------------

class CheckpointDirTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = atom::testing::MakeTempDir("atom-ckpt"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& bytes) {
    WriteBytes(dir_ + "/" + name, bytes);
  }
  // Two shards: a.safetensors holds "w1" (F32 [2, 2]) and "extra"; b.safetensors holds "w2".
  void WriteShards() {
    Write("a.safetensors", BuildSafetensors({{"w1", "F32", {2, 2}, PatternBytes(16, 1)},
                                             {"extra", "U8", {3}, PatternBytes(3, 9)}}));
    Write("b.safetensors", BuildSafetensors({{"w2", "BF16", {4}, PatternBytes(8, 5)}}));
  }
  void WriteIndex(const std::string& weight_map_json) {
    Write("model.safetensors.index.json",
          R"({"metadata": {"total_size": 24}, "weight_map": )" + weight_map_json + "}");
  }
  StatusOr<Checkpoint> Open() { return Checkpoint::Open(dir_); }

  std::string dir_;
};

TEST_F(CheckpointDirTest, ShardedResolvesTensorsToTheirShard) {
  WriteShards();
  WriteIndex(R"({"w1": "a.safetensors", "w2": "b.safetensors"})");
  auto r = Open();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_files(), 2u);
  EXPECT_EQ(r->Names(), (std::vector<std::string>{"w1", "w2"}));
  EXPECT_FALSE(r->Contains("extra"));  // in a shard but not in the index
  EXPECT_EQ(r->FileOf("w1"), "a.safetensors");
  EXPECT_EQ(r->FileOf("w2"), "b.safetensors");
  EXPECT_EQ(r->total_tensor_bytes(), 24u);
  auto w2 = r->Get("w2", DType::kBF16, Shape{4});
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(std::memcmp(w2->data(), PatternBytes(8, 5).data(), 8), 0);
  auto w1 = r->Get("w1", DType::kF32, Shape{2, 2});
  ASSERT_TRUE(w1.ok());
  EXPECT_EQ(std::memcmp(w1->data(), PatternBytes(16, 1).data(), 16), 0);
  auto bad = r->Get("w2", DType::kBF16, Shape{2, 2});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(HasText(bad.status().message(), "b.safetensors: tensor 'w2' has shape [4]"));
}

TEST_F(CheckpointDirTest, IndexNamesTensorMissingFromShard) {
  WriteShards();
  WriteIndex(R"({"w1": "a.safetensors", "w9": "b.safetensors"})");
  auto r = Open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(HasText(r.status().message(), "'w9'"));
  EXPECT_TRUE(HasText(r.status().message(), "'b.safetensors'"));
  EXPECT_TRUE(HasText(r.status().message(), "model.safetensors.index.json"));
}

TEST_F(CheckpointDirTest, IndexNamesMissingShard) {
  WriteShards();
  WriteIndex(R"({"w1": "a.safetensors", "w2": "c.safetensors"})");
  auto r = Open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(HasText(r.status().message(), "c.safetensors"));
  EXPECT_TRUE(HasText(r.status().message(), "'w2'"));
}

TEST_F(CheckpointDirTest, IndexShardMustBeAPlainFileName) {
  WriteShards();
  for (const char* shard :
       {"../a.safetensors", "sub/a.safetensors", "/etc/passwd", "..", "", "..\\\\a.safetensors"}) {
    WriteIndex(std::string(R"({"w1": ")") + shard + R"("})");
    auto r = Open();
    ASSERT_FALSE(r.ok()) << shard;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << shard;
    EXPECT_TRUE(HasText(r.status().message(), "'w1'"));
    EXPECT_TRUE(HasText(r.status().message(), "not a plain file name"));
  }
}

TEST_F(CheckpointDirTest, MalformedIndex) {
  WriteShards();
  const std::pair<const char*, const char*> cases[] = {
      {"{not json", "not valid JSON"},
      {"[1]", "JSON object"},
      {R"({"metadata": {}})", "missing field 'weight_map'"},
      {R"({"weight_map": ["a.safetensors"]})", "'weight_map' must be an object"},
      {R"({"weight_map": {}})", "'weight_map' is empty"},
      {R"({"weight_map": {"w1": 3}})", "tensor 'w1' must be a shard file name"},
      {R"({"metadata": 1, "weight_map": {"w1": "a.safetensors"}})", "'metadata'"},
  };
  for (const auto& [json, needle] : cases) {
    Write("model.safetensors.index.json", json);
    auto r = Open();
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_TRUE(HasText(r.status().message(), needle));
    EXPECT_TRUE(HasText(r.status().message(), "model.safetensors.index.json"));
  }
}

TEST_F(CheckpointDirTest, CorruptShardNamesShardAndTensor) {
  WriteShards();
  Write("b.safetensors", "garbage!garbage!");
  WriteIndex(R"({"w1": "a.safetensors", "w2": "b.safetensors"})");
  auto r = Open();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasText(r.status().message(), "b.safetensors"));
  EXPECT_TRUE(HasText(r.status().message(), "'w2'"));
}

TEST_F(CheckpointDirTest, SingleFileOfAnyName) {
  Write("weights.safetensors", BuildSafetensors({{"t", "I8", {5}, PatternBytes(5)}}));
  Write("notes.txt", "hello");
  auto r = Open();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->FileOf("t"), "weights.safetensors");
  EXPECT_EQ(r->Names(), std::vector<std::string>{"t"});
}

TEST_F(CheckpointDirTest, ModelSafetensorsWinsOverOtherFiles) {
  Write("model.safetensors", BuildSafetensors({{"m", "U8", {1}, "x"}}));
  Write("other.safetensors", BuildSafetensors({{"o", "U8", {1}, "y"}}));
  auto r = Open();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->Contains("m"));
  EXPECT_FALSE(r->Contains("o"));
  EXPECT_EQ(r->num_files(), 1u);
}

TEST_F(CheckpointDirTest, SeveralFilesWithoutIndex) {
  WriteShards();
  auto r = Open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasText(r.status().message(), "a.safetensors, b.safetensors"));
}

TEST_F(CheckpointDirTest, NoSafetensorsFile) {
  Write("config.json", "{}");
  auto r = Open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(HasText(r.status().message(), dir_));
}

TEST_F(CheckpointDirTest, NotADirectory) {
  auto r = Checkpoint::Open(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  Write("file", "x");
  r = Checkpoint::Open(dir_ + "/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace atom
