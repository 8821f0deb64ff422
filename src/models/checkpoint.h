// Checkpoint: the tensors of a model directory holding one or more safetensors files.
//
// Resolution (spec §3.1): if DIR/model.safetensors.index.json exists, its "weight_map" names the
// shard of every tensor; else DIR/model.safetensors; else the only *.safetensors file in DIR.
// Every file is memory-mapped and validated at Open, and every tensor the index maps is checked to
// exist in its shard, so later lookups only fail for tensors the checkpoint does not have.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "models/safetensors.h"

namespace atom {

class Checkpoint {
 public:
  // Opens the checkpoint in directory `dir`. Errors: `dir` is not a directory (kNotFound); no
  // safetensors file, or several without an index (kNotFound / kInvalidArgument); a malformed
  // index (bad JSON, wrong types, a shard name that is not a plain file name inside `dir`), a
  // shard that fails to open, or a mapped tensor missing from its shard — each message names the
  // index or shard file and the tensor.
  static StatusOr<Checkpoint> Open(const std::string& dir);

  Checkpoint(Checkpoint&&) noexcept = default;
  Checkpoint& operator=(Checkpoint&&) noexcept = default;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  // The directory passed to Open.
  const std::string& dir() const { return dir_; }
  bool Contains(std::string_view name) const;

  // A read-only CPU view of tensor `name`, checked against the expected dtype and shape. Errors
  // name the tensor and its file: kNotFound ("tensor 'x' needed by the model is missing from
  // checkpoint DIR"), kInvalidArgument for a dtype or shape mismatch ("model.safetensors: tensor
  // 'x' has shape [256, 96] but the config implies [128, 96]"). The view is valid while this
  // Checkpoint (or the one it is moved into) lives.
  StatusOr<Tensor> Get(std::string_view name, DType dtype, const Shape& shape) const;
  // As above without the dtype/shape check; still kNotFound when missing.
  StatusOr<Tensor> Get(std::string_view name) const;

  // All tensor names, sorted. With an index, exactly the index's tensors.
  std::vector<std::string> Names() const;
  // Sum of the data bytes of all tensors in Names().
  uint64_t total_tensor_bytes() const { return total_tensor_bytes_; }
  // Number of safetensors files mapped.
  size_t num_files() const { return files_.size(); }
  // The file name (not path) holding tensor `name`, or "" if there is none.
  std::string FileOf(std::string_view name) const;

  // Reads every mapped page once, so that the first forward pass does not wait on the disk;
  // `progress` (optional) is told the bytes read so far of the total, often.
  void Prefault(const std::function<void(uint64_t done, uint64_t total)>& progress) const;

  // Thread-safety: all const methods are safe to call concurrently.

 private:
  struct Location {
    size_t file = 0;                          // index into files_ / file_names_
    const SafetensorsEntry* entry = nullptr;  // owned by files_[file]
  };

  Checkpoint() = default;
  Status AddFile(const std::string& file_name);
  // `source` names the index for error messages.
  Status AddTensor(const std::string& name, size_t file, std::string_view source);
  Status LoadIndex(const std::string& index_path);

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::string> file_names_;  // plain names, parallel to files_
  std::map<std::string, Location, std::less<>> tensors_;
  uint64_t total_tensor_bytes_ = 0;
};

}  // namespace atom
