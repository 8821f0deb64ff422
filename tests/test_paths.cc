#include "test_paths.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace atom::testing {

std::string DataDir() { return ATOM_TEST_DATA_DIR; }

std::string UnpackedDataDir() { return ATOM_TEST_UNPACKED_DIR; }

std::string FixtureDir(const std::string& name) { return DataDir() + "/" + name; }

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

}  // namespace atom::testing
