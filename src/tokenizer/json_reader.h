// JsonReader: a minimal pull parser over a JSON text, for the two big arrays of a tokenizer.json
// (model.vocab and model.merges: ~650k strings) whose nlohmann DOM takes over a second to build.
// Small sub-objects are better read by nlohmann: SkipValue() returns a value's raw text.
//
// Errors are InvalidArgument("line N: ..."); the caller adds the file and the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace atom::tokenizer_internal {

class JsonReader {
 public:
  // Reads doc[begin, end); line numbers in errors count from the start of `doc`.
  explicit JsonReader(std::string_view doc, size_t begin = 0, size_t end = std::string_view::npos)
      : doc_(doc), pos_(begin), end_(end < doc.size() ? end : doc.size()) {}

  // The next significant character without consuming it; '\0' at the end.
  char Peek();
  bool AtEnd() { return Peek() == '\0'; }

  // Objects: BeginObject(), then NextKey(0, &k), NextKey(1, &k), ... until it returns false
  // (it consumes the commas and the closing brace), reading each key's value in between.
  Status BeginObject();
  StatusOr<bool> NextKey(size_t index, std::string* key);
  // Arrays likewise with NextElement(index).
  Status BeginArray();
  StatusOr<bool> NextElement(size_t index);

  // A string, unescaped (\uXXXX and surrogate pairs become UTF-8).
  Status ReadString(std::string* out);
  // An integer without fraction or exponent.
  Status ReadInt(int64_t* out);
  // Any value; returns its position [begin, end) in the document.
  StatusOr<std::pair<size_t, size_t>> SkipValue();

  // "line N: what" at the current position.
  Status Error(std::string_view what) const;

 private:
  Status Expect(char c);
  Status SkipString();

  std::string_view doc_;
  size_t pos_;
  size_t end_;
};

}  // namespace atom::tokenizer_internal
