// Shared by the tokenizer tests: the o200k_harmony tokenizer from both file formats, loaded once
// per process, and the test vectors.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace atom::testing {

inline std::string O200kRanksPath() { return DataDir() + "/tokenizer/o200k_base.tiktoken"; }
inline std::string O200kHfJsonPath() {
  return UnpackedDataDir() + "/o200k_harmony_hf/tokenizer.json";
}

// REQUIRES: the file loads (the test aborts otherwise).
inline const Tokenizer& O200kFromTiktoken() {
  static const std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::O200kHarmony(O200kRanksPath());
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      std::abort();
    }
    return std::move(r).value();
  }();
  return *t;
}

inline const Tokenizer& O200kFromHfJson() {
  static const std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::FromHfJson(O200kHfJsonPath());
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      std::abort();
    }
    return std::move(r).value();
  }();
  return *t;
}

inline const nlohmann::json& O200kVectors() {
  static const nlohmann::json j = [] {
    FILE* f = std::fopen((DataDir() + "/tokenizer/o200k_test_vectors.json").c_str(), "rb");
    std::string text;
    if (f != nullptr) {
      char buf[65536];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
      std::fclose(f);
    }
    return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  }();
  return j;
}

}  // namespace atom::testing
