// Test helpers that build safetensors files in memory, valid or deliberately malformed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atom::testing {

// One tensor to lay out: its bytes follow the previous tensor's.
struct StTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string data;  // raw little-endian bytes
};

// 8-byte little-endian length, then `header_json`, then `data`. `declared_len` overrides the
// length field (for truncation and bad-length cases).
inline std::string RawSafetensors(std::string_view header_json, std::string_view data = {},
                                  std::optional<uint64_t> declared_len = std::nullopt) {
  const uint64_t n = declared_len.value_or(header_json.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xFF);
  out.append(header_json);
  out.append(data);
  return out;
}

// The header JSON object of a well-formed file holding `tensors` back to back.
inline nlohmann::json StHeaderJson(const std::vector<StTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t offset = 0;
  for (const StTensor& t : tensors) {
    h[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  return h;
}

// A well-formed file: header padded with spaces to a multiple of 8 bytes, as writers do.
inline std::string BuildSafetensors(const std::vector<StTensor>& tensors,
                                    const std::map<std::string, std::string>& metadata = {}) {
  std::string header = StHeaderJson(tensors, metadata).dump();
  while (header.size() % 8 != 0) header.push_back(' ');
  std::string data;
  for (const StTensor& t : tensors) data += t.data;
  return RawSafetensors(header, data);
}

// `count` bytes with a recognisable pattern starting at `seed`.
inline std::string PatternBytes(size_t count, uint8_t seed = 1) {
  std::string s(count, '\0');
  for (size_t i = 0; i < count; ++i) s[i] = char(uint8_t(seed + 7 * i));
  return s;
}

// Success when `haystack` contains `needle`; the failure message shows both.
inline ::testing::AssertionResult HasText(const std::string& haystack, std::string_view needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "'" << haystack << "' does not contain '" << needle << "'";
}

inline void WriteBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace atom::testing
