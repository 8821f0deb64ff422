// Where the tests find their data and the atom binary.
#pragma once

#include <string>

namespace atom::testing {
// tests/data in the source tree.
std::string DataDir();
// Test data unpacked into the build tree at configure time (o200k_harmony_hf/tokenizer.json).
std::string UnpackedDataDir();
// The tiny fixture checkpoint folder ("gpt-oss-tiny-mxfp4" or "gpt-oss-tiny-bf16").
std::string FixtureDir(const std::string& name);
// A fresh empty directory under the system temp dir, for files a test writes.
std::string MakeTempDir(const std::string& prefix);
}  // namespace atom::testing
