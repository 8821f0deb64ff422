#include "models/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace atom {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kIndexName = "model.safetensors.index.json";
constexpr std::string_view kSingleName = "model.safetensors";
// An index lists names only; anything this large is not one.
constexpr uint64_t kMaxIndexBytes = uint64_t(100) << 20;

// A name the index may use for a shard: one path component, no traversal.
bool IsPlainFileName(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return s.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

std::string DTypeLabel(DType t) {
  const std::string_view st = SafetensorsDTypeName(t);
  return std::string(st.empty() ? DTypeName(t) : st);
}

StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) return NotFound("{}: cannot read: {}", path, ec.message());
  if (size > kMaxIndexBytes) {
    return InvalidArgument("{}: {} bytes is too large for an index (limit {})", path, size,
                           kMaxIndexBytes);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("{}: cannot open", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return DataLoss("{}: read error", path);
  return text;
}

}  // namespace

StatusOr<Checkpoint> Checkpoint::Open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound("checkpoint directory {} does not exist or is not a directory", dir);
  }
  Checkpoint ckpt;
  ckpt.dir_ = dir;

  const std::string index_path = (fs::path(dir) / kIndexName).string();
  if (fs::exists(index_path, ec)) {
    ATOM_RETURN_IF_ERROR(ckpt.LoadIndex(index_path));
    return ckpt;
  }

  std::string single;
  if (fs::exists(fs::path(dir) / kSingleName, ec)) {
    single = std::string(kSingleName);
  } else {
    std::vector<std::string> found;
    fs::directory_iterator it(dir, ec), end;
    if (ec) return NotFound("checkpoint directory {}: cannot list: {}", dir, ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return NotFound("checkpoint directory {}: cannot list: {}", dir, ec.message());
      const std::string name = it->path().filename().string();
      if (name.size() > 12 && name.ends_with(".safetensors")) found.push_back(name);
    }
    if (ec) return NotFound("checkpoint directory {}: cannot list: {}", dir, ec.message());
    if (found.empty()) {
      return NotFound("checkpoint directory {} has no {}, no {} and no *.safetensors file", dir,
                      kIndexName, kSingleName);
    }
    if (found.size() > 1) {
      std::sort(found.begin(), found.end());
      return InvalidArgument(
          "checkpoint directory {} has several safetensors files ({}) but no "
          "{} saying which tensor is where",
          dir, fmt::join(found, ", "), kIndexName);
    }
    single = found[0];
  }
  ATOM_RETURN_IF_ERROR(ckpt.AddFile(single));
  for (const SafetensorsEntry& e : ckpt.files_[0]->header().entries) {
    ATOM_RETURN_IF_ERROR(ckpt.AddTensor(e.name, 0, single));
  }
  return ckpt;
}

Status Checkpoint::AddFile(const std::string& file_name) {
  ATOM_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> f,
                        SafetensorsFile::Open((fs::path(dir_) / file_name).string()));
  files_.push_back(std::move(f));
  file_names_.push_back(file_name);
  return OkStatus();
}

Status Checkpoint::AddTensor(const std::string& name, size_t file, std::string_view source) {
  const SafetensorsEntry* e = files_[file]->Find(name);
  if (e == nullptr) {
    return NotFound("{}: tensor '{}' is mapped to shard '{}', which does not contain it", source,
                    name, file_names_[file]);
  }
  tensors_[name] = Location{file, e};
  total_tensor_bytes_ += e->data_bytes;
  return OkStatus();
}

Status Checkpoint::LoadIndex(const std::string& index_path) {
  ATOM_ASSIGN_OR_RETURN(const std::string text, ReadSmallFile(index_path));
  const Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgument("{}: not valid JSON", index_path);
  if (!root.is_object()) {
    return InvalidArgument("{}: must be a JSON object, got {}", index_path, root.type_name());
  }
  if (const auto meta = root.find("metadata"); meta != root.end() && !meta->is_object()) {
    return InvalidArgument("{}: field 'metadata' must be an object, got {}", index_path,
                           meta->type_name());
  }
  const auto map_it = root.find("weight_map");
  if (map_it == root.end()) return InvalidArgument("{}: missing field 'weight_map'", index_path);
  if (!map_it->is_object()) {
    return InvalidArgument(
        "{}: field 'weight_map' must be an object of tensor name -> shard file name, got {}",
        index_path, map_it->type_name());
  }
  if (map_it->empty()) return InvalidArgument("{}: field 'weight_map' is empty", index_path);

  std::map<std::string, size_t> shard_index;  // shard file name -> position in files_
  for (const auto& [tensor, shard_json] : map_it->items()) {
    if (!shard_json.is_string()) {
      return InvalidArgument(
          "{}: 'weight_map' entry for tensor '{}' must be a shard file name string, got {}",
          index_path, tensor, shard_json.type_name());
    }
    const std::string& shard = shard_json.get_ref<const std::string&>();
    if (!IsPlainFileName(shard)) {
      return InvalidArgument(
          "{}: tensor '{}' is mapped to shard '{}', which is not a plain file name inside {}",
          index_path, tensor, shard, dir_);
    }
    auto [it, inserted] = shard_index.emplace(shard, files_.size());
    if (inserted) {
      const Status s = AddFile(shard);
      if (!s.ok()) {
        return s.WithContext(
            fmt::format("{}: shard '{}' (holding tensor '{}')", index_path, shard, tensor));
      }
    }
    ATOM_RETURN_IF_ERROR(AddTensor(tensor, it->second, index_path));
  }
  return OkStatus();
}

bool Checkpoint::Contains(std::string_view name) const { return tensors_.contains(name); }

StatusOr<Tensor> Checkpoint::Get(std::string_view name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return NotFound("tensor '{}' needed by the model is missing from checkpoint {}", name, dir_);
  }
  return files_[it->second.file]->View(*it->second.entry);
}

StatusOr<Tensor> Checkpoint::Get(std::string_view name, DType dtype, const Shape& shape) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return NotFound("tensor '{}' needed by the model is missing from checkpoint {}", name, dir_);
  }
  const SafetensorsEntry& e = *it->second.entry;
  const std::string& file = file_names_[it->second.file];
  if (e.dtype != dtype) {
    return InvalidArgument("{}: tensor '{}' has dtype {} but the model expects {}", file, name,
                           DTypeLabel(e.dtype), DTypeLabel(dtype));
  }
  if (!(e.shape == shape)) {
    return InvalidArgument("{}: tensor '{}' has shape {} but the config implies {}", file, name,
                           e.shape.ToString(), shape.ToString());
  }
  return files_[it->second.file]->View(e);
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, loc] : tensors_) names.push_back(name);
  return names;  // std::map iterates in sorted order
}

std::string Checkpoint::FileOf(std::string_view name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? std::string() : file_names_[it->second.file];
}

void Checkpoint::Prefault(
    const std::function<void(uint64_t done, uint64_t total)>& progress) const {
  constexpr uint64_t kChunk = uint64_t(64) << 20;
  const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  uint64_t total = 0, done = 0;
  for (const auto& f : files_) total += f->size();
  for (const auto& f : files_) {
    const uint8_t* base = f->data();
    madvise(const_cast<uint8_t*>(base), f->size(), MADV_WILLNEED);
    for (uint64_t begin = 0; begin < f->size(); begin += kChunk) {
      const uint64_t end = std::min(f->size(), begin + kChunk);
      uint8_t sink = 0;
      for (uint64_t i = begin; i < end; i += page) sink ^= base[i];
      asm volatile("" : : "r"(sink));  // keeps the reads
      done += end - begin;
      if (progress) progress(done, total);
    }
  }
}

}  // namespace atom
