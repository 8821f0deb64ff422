// Replays the safetensors fuzz corpus (tests/data/fuzz/safetensors) through the header parser in
// the normal build, so crashes the fuzzer once found stay fixed. Seeds named valid_* must parse;
// invalid_* must be rejected; any other file (e.g. a minimised crash input) must merely return.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "models/safetensors.h"
#include "test_paths.h"

namespace atom {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> CorpusFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(atom::testing::DataDir() + "/fuzz/safetensors")) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(SafetensorsCorpusTest, EveryCorpusFileReturns) {
  const std::vector<fs::path> files = CorpusFiles();
  ASSERT_GE(files.size(), 10u);
  int valid = 0, invalid = 0;
  for (const fs::path& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string name = path.filename().string();
    const auto r =
        ParseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
    if (name.starts_with("valid_")) {
      ++valid;
      EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    } else if (name.starts_with("invalid_")) {
      ++invalid;
      ASSERT_FALSE(r.ok()) << name;
      EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().ToString();
    }
  }
  EXPECT_GE(valid, 5);
  EXPECT_GE(invalid, 5);
}

TEST(SafetensorsCorpusTest, FixtureSeedHasTheFixtureTensors) {
  const std::string path =
      atom::testing::DataDir() + "/fuzz/safetensors/valid_fixture_small.safetensors";
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const SafetensorsEntry* blocks = (*f)->Find("model.layers.0.mlp.experts.down_proj_blocks");
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(blocks->shape, (Shape{1, 4, 1, 16}));
  EXPECT_EQ((*f)->View(*blocks).data_as<const uint8_t>()[0], 0x25);  // as in the fixture
  EXPECT_EQ((*f)->header().metadata.at("format"), "pt");
}

}  // namespace
}  // namespace atom
