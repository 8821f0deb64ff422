#include "models/json_fields.h"

namespace atom {

bool JsonFields::Has(std::string_view key) const { return Find(key) != nullptr; }

const nlohmann::json* JsonFields::Find(std::string_view key) const {
  if (!object_.is_object()) return nullptr;
  auto it = object_.find(std::string(key));
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

Status JsonFields::Error(std::string_view key, std::string_view what) const {
  const nlohmann::json* v = Find(key);
  std::string got = v ? v->dump() : "nothing";
  if (got.size() > 80) got = got.substr(0, 77) + "...";
  return InvalidArgument("{}: field '{}' {}, got {}", where_, key, what, got);
}

namespace {
template <typename T>
StatusOr<T> Required(const JsonFields& f, std::string_view key,
                     StatusOr<std::optional<T>> optional) {
  if (!optional.ok()) return optional.status();
  if (!optional->has_value()) return NotFound("{}: required field '{}' is missing", f.where(), key);
  return **optional;
}
}  // namespace

StatusOr<std::optional<int64_t>> JsonFields::OptionalInt(std::string_view key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_number_integer()) return std::optional<int64_t>(v->get<int64_t>());
  // Accept integral floats written as 4096.0.
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d == double(int64_t(d))) return std::optional<int64_t>(int64_t(d));
  }
  return Error(key, "must be an integer");
}

StatusOr<std::optional<double>> JsonFields::OptionalNumber(std::string_view key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return std::optional<double>();
  if (v->is_number()) return std::optional<double>(v->get<double>());
  return Error(key, "must be a number");
}

StatusOr<std::optional<bool>> JsonFields::OptionalBool(std::string_view key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return std::optional<bool>();
  if (v->is_boolean()) return std::optional<bool>(v->get<bool>());
  return Error(key, "must be true or false");
}

StatusOr<std::optional<std::string>> JsonFields::OptionalString(std::string_view key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return std::optional<std::string>();
  if (v->is_string()) return std::optional<std::string>(v->get<std::string>());
  return Error(key, "must be a string");
}

StatusOr<int64_t> JsonFields::Int(std::string_view key) const {
  return Required(*this, key, OptionalInt(key));
}
StatusOr<double> JsonFields::Number(std::string_view key) const {
  return Required(*this, key, OptionalNumber(key));
}
StatusOr<bool> JsonFields::Bool(std::string_view key) const {
  return Required(*this, key, OptionalBool(key));
}
StatusOr<std::string> JsonFields::String(std::string_view key) const {
  return Required(*this, key, OptionalString(key));
}

StatusOr<std::vector<std::string>> JsonFields::StringList(std::string_view key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return NotFound("{}: required field '{}' is missing", where_, key);
  if (!v->is_array()) return Error(key, "must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string()) return Error(key, "must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

StatusOr<std::vector<int64_t>> JsonFields::IntOrIntList(std::string_view key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return NotFound("{}: required field '{}' is missing", where_, key);
  if (v->is_number_integer()) return std::vector<int64_t>{v->get<int64_t>()};
  if (!v->is_array()) return Error(key, "must be an integer or a list of integers");
  std::vector<int64_t> out;
  for (const auto& e : *v) {
    if (!e.is_number_integer()) return Error(key, "must be an integer or a list of integers");
    out.push_back(e.get<int64_t>());
  }
  return out;
}

}  // namespace atom
