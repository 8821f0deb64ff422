// safetensors: a validating header parser and a read-only, memory-mapped file reader.
//
// Layout (spec §3.1): an 8-byte little-endian header length N, N bytes of JSON mapping tensor
// names to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__"
// object of strings, then the data region. Offsets are relative to the data region (file offset
// 8 + N). Everything a file claims is checked before any tensor byte is trusted, so a malformed
// file yields a Status naming the file and the tensor, never a crash or an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"

namespace atom {

// Largest JSON header accepted; the reference implementation uses the same limit.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = uint64_t(100) << 20;

// One tensor of a safetensors file, as validated by ParseSafetensorsHeader.
struct SafetensorsEntry {
  std::string name;
  DType dtype;  // from the file's dtype string
  Shape shape;
  uint64_t data_begin;  // ABSOLUTE file offset of the tensor's first byte (8 + N + begin)
  uint64_t data_bytes;  // end - begin; equals the bytes shape.numel() elements of dtype occupy
};

// A parsed header. Every entry lies inside the file, and no two entries' byte ranges overlap.
struct SafetensorsHeader {
  uint64_t header_bytes = 0;                    // N, the JSON length
  std::vector<SafetensorsEntry> entries;        // in data order (sorted by data_begin)
  std::map<std::string, std::string> metadata;  // "__metadata__" (string -> string only)
};

// Parses and fully validates the header of a safetensors file whose bytes are file[0, file_size).
// Reads no byte outside that range. `file_name` only appears in error messages, which all start
// with "<file_name>: " and name the tensor and field at fault.
// Error codes: kDataLoss when the file is shorter than what it declares (under 8 bytes, JSON or a
// tensor past the end); kUnimplemented for a valid safetensors dtype atom does not support;
// kInvalidArgument for everything else that is malformed. Unknown keys inside a tensor entry are
// ignored (forward compatibility); gaps between tensors are allowed.
// REQUIRES: `file` points at file_size readable bytes (may be null when file_size is 0).
// Thread-safe (pure function).
StatusOr<SafetensorsHeader> ParseSafetensorsHeader(const uint8_t* file, uint64_t file_size,
                                                   std::string_view file_name);

// Maps a safetensors dtype string ("F32", "F16", "BF16", "F8_E4M3", "F8_E8M0", "U8", "I8",
// "I32", "I64") to a DType; nullopt for any other string, including valid safetensors dtypes
// atom does not support (e.g. "F64", "BOOL").
std::optional<DType> DTypeFromSafetensors(std::string_view s);

// The inverse of DTypeFromSafetensors; "" for a DType with no supported safetensors name
// (kFP4E2M1, which checkpoints store as U8).
std::string_view SafetensorsDTypeName(DType t);

// A safetensors file mapped read-only into memory (PROT_READ, MAP_PRIVATE). The mapping lives as
// long as this object: every Tensor from View() dangles once it is destroyed. Neither copyable nor
// movable; hold it by unique_ptr. All const methods are thread-safe.
class SafetensorsFile {
 public:
  // Maps the file at `path` and validates its header. Errors (naming the path): the file does not
  // exist or cannot be opened (kNotFound), is not a regular file (kInvalidArgument), is empty
  // (kDataLoss), mmap fails (kInternal), or any header error of ParseSafetensorsHeader.
  // A file truncated by another process after Open makes reads of the lost pages fault (SIGBUS);
  // that is outside what validation can prevent.
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The path passed to Open.
  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  // The entry called `name`, or nullptr. The pointer lives as long as this object.
  const SafetensorsEntry* Find(std::string_view name) const;
  // A contiguous CPU view of the entry's mapped bytes. The memory is READ-ONLY (writing through
  // the view faults) and is aligned only as well as the file aligns it.
  // REQUIRES: `e` is one of header().entries of this object.
  Tensor View(const SafetensorsEntry& e) const;
  // The file's size in bytes.
  uint64_t size() const { return size_; }
  // The mapped file bytes [0, size()).
  const uint8_t* data() const { return base_; }

 private:
  SafetensorsFile() = default;

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in header_.entries
};

}  // namespace atom
