// WriteSyntheticGptOss: streams the planned tensors into safetensors shards.
#include "models/synthetic.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/logging.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "models/safetensors.h"

namespace atom {
namespace {

constexpr uint64_t kChunkBytes = uint64_t(16) << 20;   // one I/O buffer
constexpr uint64_t kPieceBytes = uint64_t(256) << 10;  // one unit of parallel fill work

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The safetensors header of one shard: its tensors in plan order, padded to 8 bytes.
std::string ShardHeader(const SyntheticPlan& plan, int shard) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SyntheticTensor& t : plan.tensors) {
    if (t.shard != shard) continue;
    header[t.name] = {{"dtype", SafetensorsDTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  return json;
}

// A contiguous part of one tensor, destined for buffer offset `dst`.
struct Piece {
  const SyntheticTensor* tensor;
  uint64_t key;
  uint64_t offset;  // within the tensor
  uint64_t dst;     // within the buffer
  uint64_t bytes;
};

// Writes one shard: the header, then its tensors' bytes chunk by chunk. While one chunk is being
// written by a helper thread, the thread pool fills the next one.
class ShardWriter {
 public:
  ShardWriter(const SyntheticPlan& plan, int shard, uint64_t seed)
      : plan_(plan), shard_(shard), seed_(seed) {
    for (const SyntheticTensor& t : plan.tensors)
      if (t.shard == shard) tensors_.push_back(&t);
  }

  Status Write(const std::string& path) {
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) return NotFound("cannot create {}: {}", tmp, std::strerror(errno));
    Status s = WriteTo(f, tmp);
    if (std::fclose(f) != 0 && s.ok())
      s = DataLoss("writing {} failed: {}", tmp, std::strerror(errno));
    if (!s.ok()) {
      std::remove(tmp.c_str());
      return s;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return DataLoss("cannot rename {} to {}: {}", tmp, path, ec.message());
    return OkStatus();
  }

 private:
  static Status Put(FILE* f, const void* data, size_t n, const std::string& path) {
    if (n > 0 && std::fwrite(data, 1, n, f) != n)
      return DataLoss("writing {} failed: {}", path, std::strerror(errno));
    return OkStatus();
  }

  Status WriteTo(FILE* f, const std::string& path) {
    const std::string header = ShardHeader(plan_, shard_);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(header.size()) >> (8 * i)) & 0xFF);
    ATOM_RETURN_IF_ERROR(Put(f, len, 8, path));
    ATOM_RETURN_IF_ERROR(Put(f, header.data(), header.size(), path));

    Buffer buffers[2] = {Buffer(kChunkBytes), Buffer(kChunkBytes)};
    std::future<Status> pending;
    int which = 0;
    while (true) {
      const uint64_t n = Fill(static_cast<uint8_t*>(buffers[which].data()));
      if (pending.valid()) ATOM_RETURN_IF_ERROR(pending.get());
      if (n == 0) break;
      const void* data = buffers[which].data();
      pending =
          std::async(std::launch::async, [f, data, n, &path] { return Put(f, data, n, path); });
      which ^= 1;
    }
    return OkStatus();
  }

  // Fills `out` with the next (up to) kChunkBytes of the shard's data; returns the byte count.
  uint64_t Fill(uint8_t* out) {
    pieces_.clear();
    uint64_t used = 0;
    while (used < kChunkBytes && next_tensor_ < tensors_.size()) {
      const SyntheticTensor& t = *tensors_[next_tensor_];
      const uint64_t key = synthetic::TensorKey(seed_, t.name);
      uint64_t n = std::min(t.bytes - next_offset_, kChunkBytes - used);
      // A tensor continued in the next chunk splits at a multiple of 16 bytes, so a bf16
      // element is never cut in two.
      if (n < t.bytes - next_offset_) n -= n % 16;
      if (n == 0) break;
      for (uint64_t done = 0; done < n; done += kPieceBytes)
        pieces_.push_back(
            {&t, key, next_offset_ + done, used + done, std::min(kPieceBytes, n - done)});
      used += n;
      next_offset_ += n;
      if (next_offset_ == t.bytes) {
        ++next_tensor_;
        next_offset_ = 0;
      }
    }
    ThreadPool::Global().ParallelFor(int64_t(pieces_.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const Piece& p = pieces_[size_t(i)];
        synthetic::FillBytes(p.tensor->init, p.key, p.offset, p.bytes, out + p.dst);
      }
    });
    return used;
  }

  const SyntheticPlan& plan_;
  const int shard_;
  const uint64_t seed_;
  std::vector<const SyntheticTensor*> tensors_;
  size_t next_tensor_ = 0;
  uint64_t next_offset_ = 0;
  std::vector<Piece> pieces_;
};

// "model-DDDDD-of-DDDDD.safetensors"
bool IsShardName(const std::string& name) {
  static constexpr std::string_view kPattern = "model-#####-of-#####.safetensors";
  if (name.size() != kPattern.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (kPattern[i] == '#' ? !(name[i] >= '0' && name[i] <= '9') : name[i] != kPattern[i])
      return false;
  }
  return true;
}

// Removes what a previous checkpoint in `dir` left that this one does not overwrite: the index
// (rewritten last, so an interrupted write leaves none), other shards, and tokenizer files when
// this checkpoint has no tokenizer. Only these exact names are touched.
Status RemoveStaleFiles(const std::string& dir, const SyntheticPlan& plan) {
  std::vector<std::string> stale = {"model.safetensors.index.json"};
  if (!plan.writes_tokenizer)
    stale.insert(stale.end(),
                 {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"});
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (IsShardName(name) &&
        std::find(plan.shard_names.begin(), plan.shard_names.end(), name) == plan.shard_names.end())
      stale.push_back(name);
  }
  if (ec) return NotFound("cannot list {}: {}", dir, ec.message());
  for (const std::string& name : stale) {
    std::filesystem::remove(dir + "/" + name, ec);
    if (ec) return DataLoss("cannot remove stale {}/{}: {}", dir, name, ec.message());
  }
  return OkStatus();
}

std::string IndexJson(const SyntheticPlan& plan) {
  std::map<std::string, std::string> weight_map;  // sorted by name, as Hugging Face writes it
  for (const SyntheticTensor& t : plan.tensors) weight_map[t.name] = plan.shard_names[t.shard];
  nlohmann::ordered_json j;
  j["metadata"] = {{"total_size", plan.total_bytes}};
  j["weight_map"] = nlohmann::ordered_json::object();
  for (const auto& [name, file] : weight_map) j["weight_map"][name] = file;
  return j.dump(2) + "\n";
}

}  // namespace

Status WriteSyntheticGptOss(const SyntheticOptions& o, SyntheticStats* stats) {
  const double start = Now();
  ATOM_ASSIGN_OR_RETURN(SyntheticPlan plan, PlanSyntheticGptOss(o));
  if (plan.writes_tokenizer && (o.tokenizer_ranks.empty() || !o.write_tokenizer_files))
    return InvalidArgument(
        "preset '{}' has the real o200k_harmony vocabulary: its tokenizer "
        "needs tokenizer_ranks (a o200k_base.tiktoken file) and "
        "write_tokenizer_files",
        o.preset);
  if (o.out_dir.empty()) return InvalidArgument("out_dir is empty");
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) return NotFound("cannot create directory {}: {}", o.out_dir, ec.message());

  ATOM_RETURN_IF_ERROR(RemoveStaleFiles(o.out_dir, plan));

  SyntheticStats st;
  const std::string dir = o.out_dir + "/";
  ATOM_RETURN_IF_ERROR(WriteFileAtomically(dir + "config.json", plan.config_json));
  ATOM_RETURN_IF_ERROR(WriteFileAtomically(dir + "generation_config.json", plan.generation_config_json));
  st.bytes_written += plan.config_json.size() + plan.generation_config_json.size();
  if (plan.writes_tokenizer) {
    const double t0 = Now();
    ATOM_RETURN_IF_ERROR(o.write_tokenizer_files(o.tokenizer_ranks, o.out_dir));
    st.tokenizer_seconds = Now() - t0;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
      st.bytes_written += std::filesystem::file_size(dir + f, ec);
  }
  for (size_t i = 0; i < plan.shard_names.size(); ++i) {
    const double t0 = Now();
    const std::string path = dir + plan.shard_names[i];
    ATOM_RETURN_IF_ERROR(ShardWriter(plan, int(i), o.seed).Write(path));
    const double secs = Now() - t0;
    const uint64_t bytes = std::filesystem::file_size(path, ec);
    st.bytes_written += bytes;
    ATOM_LOG_INFO("wrote {} ({:.1f} MB) in {:.2f} s ({:.0f} MB/s)", plan.shard_names[i],
                  double(bytes) / 1e6, secs, secs > 0 ? double(bytes) / 1e6 / secs : 0.0);
  }
  const std::string index = IndexJson(plan);
  ATOM_RETURN_IF_ERROR(WriteFileAtomically(dir + "model.safetensors.index.json", index));
  st.bytes_written += index.size();
  st.seconds = Now() - start;
  if (stats != nullptr) *stats = st;
  return OkStatus();
}

}  // namespace atom
