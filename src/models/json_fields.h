// Typed, non-throwing reads of JSON object fields, for config files. Every error names the file
// and the field ("config.json: field 'hidden_size' must be an integer, got \"96\"").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace atom {

// Reads the fields of one JSON object; `where` prefixes every message (e.g. "config.json").
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  bool Has(std::string_view key) const;
  const nlohmann::json* Find(std::string_view key) const;  // nullptr when absent or null

  // Required fields: NotFound when absent, InvalidArgument when of another type.
  StatusOr<int64_t> Int(std::string_view key) const;
  StatusOr<double> Number(std::string_view key) const;  // integers accepted
  StatusOr<bool> Bool(std::string_view key) const;
  StatusOr<std::string> String(std::string_view key) const;
  StatusOr<std::vector<std::string>> StringList(std::string_view key) const;
  // An integer or a list of integers (as eos_token_id may be).
  StatusOr<std::vector<int64_t>> IntOrIntList(std::string_view key) const;

  // Optional fields: nullopt when absent or null, an error when present with another type.
  StatusOr<std::optional<int64_t>> OptionalInt(std::string_view key) const;
  StatusOr<std::optional<double>> OptionalNumber(std::string_view key) const;
  StatusOr<std::optional<bool>> OptionalBool(std::string_view key) const;
  StatusOr<std::optional<std::string>> OptionalString(std::string_view key) const;

  const std::string& where() const { return where_; }
  Status Error(std::string_view key, std::string_view what) const;

 private:
  const nlohmann::json& object_;
  std::string where_;
};

}  // namespace atom
