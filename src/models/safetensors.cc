#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace atom {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSupportedDTypes = "F32, F16, BF16, F8_E4M3, F8_E8M0, U8, I8, I32, I64";

// Valid safetensors dtypes that atom does not load (kUnimplemented rather than kInvalidArgument).
bool IsKnownUnsupportedDType(std::string_view s) {
  static constexpr std::string_view kKnown[] = {
      "BOOL",    "U16",     "I16", "U32", "U64",         "F64",        "F8_E5M2",
      "F6_E2M3", "F6_E3M2", "F4",  "C64", "F8_E4M3FNUZ", "F8_E5M2FNUZ"};
  return std::find(std::begin(kKnown), std::end(kKnown), s) != std::end(kKnown);
}

// A short rendering of a JSON value for error messages (never throws: strings were validated as
// UTF-8 by the parser, and invalid sequences would be replaced anyway).
std::string Brief(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

const char* TypeName(const Json& j) { return j.type_name(); }

// A JSON integer >= 0 (nlohmann stores "-0" as a signed integer, hence both cases).
bool GetNonNegative(const Json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    *out = uint64_t(v);
    return true;
  }
  return false;
}

// Validates one tensor entry. `data_base` is the absolute offset of the data region and
// `data_size` its length.
StatusOr<SafetensorsEntry> ParseEntry(std::string_view file, const std::string& name, const Json& v,
                                      uint64_t data_base, uint64_t data_size) {
  if (!v.is_object()) {
    return InvalidArgument("{}: tensor '{}': entry must be a JSON object, got {} {}", file, name,
                           TypeName(v), Brief(v));
  }
  SafetensorsEntry e;
  e.name = name;

  // dtype
  const auto dtype_it = v.find("dtype");
  if (dtype_it == v.end()) {
    return InvalidArgument("{}: tensor '{}': missing field 'dtype'", file, name);
  }
  if (!dtype_it->is_string()) {
    return InvalidArgument("{}: tensor '{}': field 'dtype' must be a string, got {} {}", file, name,
                           TypeName(*dtype_it), Brief(*dtype_it));
  }
  const std::string& dtype_str = dtype_it->get_ref<const std::string&>();
  const std::optional<DType> dtype = DTypeFromSafetensors(dtype_str);
  if (!dtype) {
    if (IsKnownUnsupportedDType(dtype_str)) {
      return Unimplemented("{}: tensor '{}': dtype '{}' is not supported (supported: {})", file,
                           name, dtype_str, kSupportedDTypes);
    }
    return InvalidArgument("{}: tensor '{}': unknown dtype {} (supported: {})", file, name,
                           Brief(*dtype_it), kSupportedDTypes);
  }
  e.dtype = *dtype;

  // shape
  const auto shape_it = v.find("shape");
  if (shape_it == v.end()) {
    return InvalidArgument("{}: tensor '{}': missing field 'shape'", file, name);
  }
  if (!shape_it->is_array()) {
    return InvalidArgument("{}: tensor '{}': field 'shape' must be an array, got {} {}", file, name,
                           TypeName(*shape_it), Brief(*shape_it));
  }
  if (shape_it->size() > size_t(kMaxDims)) {
    return InvalidArgument(
        "{}: tensor '{}': field 'shape' has {} dimensions, more than the {} supported", file, name,
        shape_it->size(), kMaxDims);
  }
  // Every partial product must fit int64 (Shape::numel multiplies in int64 in any order), so the
  // product of the non-zero dimensions is bounded even when a zero makes numel 0.
  std::vector<int64_t> dims;
  uint64_t nonzero_product = 1;
  bool has_zero = false;
  for (size_t i = 0; i < shape_it->size(); ++i) {
    const Json& d = (*shape_it)[i];
    uint64_t dim = 0;
    if (!GetNonNegative(d, &dim)) {
      return InvalidArgument(
          "{}: tensor '{}': field 'shape'[{}] must be a non-negative integer, got {}", file, name,
          i, Brief(d));
    }
    if (dim == 0) {
      has_zero = true;
    } else if (nonzero_product > uint64_t(std::numeric_limits<int64_t>::max()) / dim) {
      return InvalidArgument("{}: tensor '{}': shape {} has more elements than fit in 64 bits",
                             file, name, Brief(*shape_it));
    } else {
      nonzero_product *= dim;
    }
    dims.push_back(int64_t(dim));
  }
  const uint64_t numel = has_zero ? 0 : nonzero_product;
  e.shape = Shape(dims);

  // data_offsets
  const auto off_it = v.find("data_offsets");
  if (off_it == v.end()) {
    return InvalidArgument("{}: tensor '{}': missing field 'data_offsets'", file, name);
  }
  if (!off_it->is_array() || off_it->size() != 2) {
    return InvalidArgument(
        "{}: tensor '{}': field 'data_offsets' must be an array of two "
        "integers [begin, end], got {}",
        file, name, Brief(*off_it));
  }
  uint64_t begin = 0, end = 0;
  if (!GetNonNegative((*off_it)[0], &begin) || !GetNonNegative((*off_it)[1], &end)) {
    return InvalidArgument(
        "{}: tensor '{}': field 'data_offsets' must hold two non-negative integers, got {}", file,
        name, Brief(*off_it));
  }
  if (end < begin) {
    return InvalidArgument("{}: tensor '{}': field 'data_offsets' = [{}, {}] has end < begin", file,
                           name, begin, end);
  }
  if (end > data_size) {
    return DataLoss(
        "{}: tensor '{}': field 'data_offsets' = [{}, {}] ends past the data region "
        "of {} bytes (file truncated?)",
        file, name, begin, end, data_size);
  }
  const std::optional<uint64_t> want = DTypeBytes(e.dtype, numel);
  if (!want || *want != end - begin) {
    return InvalidArgument(
        "{}: tensor '{}': shape {} of dtype {} needs {} bytes but "
        "'data_offsets' = [{}, {}] spans {}",
        file, name, e.shape.ToString(), dtype_str,
        want ? fmt::format("{}", *want)
             : std::string("an invalid "
                           "number of"),
        begin, end, end - begin);
  }
  e.data_begin = data_base + begin;
  e.data_bytes = end - begin;
  return e;
}

Status ParseMetadata(std::string_view file, const Json& v,
                     std::map<std::string, std::string>* out) {
  if (!v.is_object()) {
    return InvalidArgument("{}: '__metadata__' must be an object of string to string, got {} {}",
                           file, TypeName(v), Brief(v));
  }
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      return InvalidArgument("{}: '__metadata__' key '{}' must map to a string, got {} {}", file,
                             key, TypeName(value), Brief(value));
    }
    (*out)[key] = value.get<std::string>();
  }
  return OkStatus();
}


// The safetensors dtype strings atom reads, one table for both directions.
struct SafetensorsDType {
  std::string_view name;
  DType dtype;
};
constexpr SafetensorsDType kDTypeNames[] = {
    {"F32", DType::kF32},        {"F16", DType::kF16},      {"BF16", DType::kBF16},
    {"F8_E4M3", DType::kF8E4M3}, {"F8_E8M0", DType::kE8M0}, {"U8", DType::kU8},
    {"I8", DType::kI8},          {"I32", DType::kI32},      {"I64", DType::kI64},
};
}  // namespace

std::optional<DType> DTypeFromSafetensors(std::string_view s) {
  for (const SafetensorsDType& d : kDTypeNames)
    if (d.name == s) return d.dtype;
  return std::nullopt;
}

std::string_view SafetensorsDTypeName(DType t) {
  for (const SafetensorsDType& d : kDTypeNames)
    if (d.dtype == t) return d.name;
  return "";  // kFP4E2M1: checkpoints store packed fp4 as U8
}

StatusOr<SafetensorsHeader> ParseSafetensorsHeader(const uint8_t* file, uint64_t file_size,
                                                   std::string_view file_name) {
  if (file_size < 8) {
    return DataLoss("{}: file is {} bytes, shorter than the 8-byte header length", file_name,
                    file_size);
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];  // little-endian
  if (n == 0) {
    return InvalidArgument(
        "{}: header length is 0; a safetensors header is a non-empty JSON object", file_name);
  }
  if (n > kMaxSafetensorsHeaderBytes) {
    return InvalidArgument(
        "{}: header length {} exceeds the {}-byte limit (not a safetensors file?)", file_name, n,
        kMaxSafetensorsHeaderBytes);
  }
  if (n > file_size - 8) {
    return DataLoss("{}: header length {} runs past the end of the {}-byte file (truncated?)",
                    file_name, n, file_size);
  }

  // Parse, noting duplicate top-level keys (nlohmann would silently keep the last one).
  std::set<std::string> seen_keys;
  std::string duplicate;
  const auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string() &&
        duplicate.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen_keys.insert(key).second) duplicate = key;
    }
    return true;
  };
  const uint8_t* json_begin = file + 8;
  const Json root = Json::parse(json_begin, json_begin + n, callback, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return InvalidArgument("{}: header ({} bytes at offset 8) is not valid JSON", file_name, n);
  }
  if (!root.is_object()) {
    return InvalidArgument("{}: header must be a JSON object, got {} {}", file_name, TypeName(root),
                           Brief(root));
  }
  if (!duplicate.empty()) {
    return InvalidArgument("{}: tensor '{}' appears more than once in the header", file_name,
                           duplicate);
  }

  SafetensorsHeader header;
  header.header_bytes = n;
  const uint64_t data_base = 8 + n;
  const uint64_t data_size = file_size - data_base;
  header.entries.reserve(root.size());
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      ATOM_RETURN_IF_ERROR(ParseMetadata(file_name, value, &header.metadata));
      continue;
    }
    ATOM_ASSIGN_OR_RETURN(SafetensorsEntry e,
                          ParseEntry(file_name, key, value, data_base, data_size));
    header.entries.push_back(std::move(e));
  }

  std::sort(header.entries.begin(), header.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              if (a.data_begin != b.data_begin) return a.data_begin < b.data_begin;
              if (a.data_bytes != b.data_bytes) return a.data_bytes < b.data_bytes;
              return a.name < b.name;
            });
  // Empty tensors occupy no bytes and overlap nothing.
  const SafetensorsEntry* furthest = nullptr;  // the non-empty entry reaching furthest so far
  for (const SafetensorsEntry& e : header.entries) {
    if (e.data_bytes == 0) continue;
    if (furthest != nullptr && e.data_begin < furthest->data_begin + furthest->data_bytes) {
      return InvalidArgument(
          "{}: tensor '{}' (bytes [{}, {})) overlaps tensor '{}' (bytes [{}, "
          "{})) in the data region",
          file_name, e.name, e.data_begin - data_base, e.data_begin - data_base + e.data_bytes,
          furthest->name, furthest->data_begin - data_base,
          furthest->data_begin - data_base + furthest->data_bytes);
    }
    if (furthest == nullptr ||
        e.data_begin + e.data_bytes > furthest->data_begin + furthest->data_bytes) {
      furthest = &e;
    }
  }
  return header;
}

// ---- SafetensorsFile ---------------------------------------------------------------------------

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  // O_NONBLOCK keeps a FIFO from blocking the open; it has no effect on regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("{}: no such file", path);
    return NotFound("{}: cannot open: {}", path, std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Internal("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("{}: not a regular file", path);
  }
  if (st.st_size == 0) {
    ::close(fd);
    return DataLoss("{}: file is empty; a safetensors file starts with an 8-byte header length",
                    path);
  }
  const uint64_t size = uint64_t(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) return Internal("{}: mmap failed: {}", path, std::strerror(map_err));

  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->base_ = static_cast<const uint8_t*>(map);
  f->size_ = size;
  ATOM_ASSIGN_OR_RETURN(f->header_, ParseSafetensorsHeader(f->base_, size, path));
  for (size_t i = 0; i < f->header_.entries.size(); ++i) {
    f->index_.emplace(f->header_.entries[i].name, i);
  }
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const SafetensorsEntry* SafetensorsFile::Find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.entries[it->second];
}

Tensor SafetensorsFile::View(const SafetensorsEntry& e) const {
  ATOM_CHECK(e.data_begin + e.data_bytes <= size_);
  // Tensor holds a mutable pointer by design; the pages are PROT_READ, so writes fault.
  return Tensor(const_cast<uint8_t*>(base_ + e.data_begin), e.dtype, e.shape);
}

}  // namespace atom
