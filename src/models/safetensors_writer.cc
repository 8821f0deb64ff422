#include "models/safetensors_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "models/safetensors.h"

namespace atom {

Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (!names.insert(t.name).second) return InvalidArgument("duplicate tensor name '{}'", t.name);
    if (!t.tensor.is_contiguous() || t.tensor.device().type != DeviceType::kCpu)
      return InvalidArgument("tensor '{}' must be contiguous and on the CPU", t.name);
    const uint64_t bytes = t.tensor.nbytes();
    header[t.name] = {{"dtype", SafetensorsDTypeName(t.tensor.dtype())},
                      {"shape", t.tensor.shape().ToVector()},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data region 8-byte aligned

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return NotFound("cannot create {}", tmp);
    const uint64_t n = json.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = char((n >> (8 * i)) & 0xFF);  // little-endian
    out.write(len, 8);
    out.write(json.data(), std::streamsize(json.size()));
    for (const NamedTensor& t : tensors)
      out.write(static_cast<const char*>(t.tensor.data()), std::streamsize(t.tensor.nbytes()));
    if (!out) return DataLoss("writing {} failed", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return DataLoss("cannot rename {} to {}: {}", tmp, path, ec.message());
  return OkStatus();
}

}  // namespace atom
