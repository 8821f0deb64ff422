#include "tokenizer/json_reader.h"

#include <algorithm>
#include <cstring>

namespace atom::tokenizer_internal {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Status JsonReader::Error(std::string_view what) const {
  const size_t at = std::min(pos_, doc_.size());
  const size_t line = 1 + std::count(doc_.begin(), doc_.begin() + at, '\n');
  return InvalidArgument("line {}: {}", line, what);
}

char JsonReader::Peek() {
  while (pos_ < end_ && IsSpace(doc_[pos_])) ++pos_;
  return pos_ < end_ ? doc_[pos_] : '\0';
}

Status JsonReader::Expect(char c) {
  if (Peek() != c) return Error(fmt::format("expected '{}'", c));
  ++pos_;
  return OkStatus();
}

Status JsonReader::BeginObject() { return Expect('{'); }
Status JsonReader::BeginArray() { return Expect('['); }

StatusOr<bool> JsonReader::NextKey(size_t index, std::string* key) {
  if (Peek() == '}') {
    ++pos_;
    return false;
  }
  if (index > 0) ATOM_RETURN_IF_ERROR(Expect(','));
  ATOM_RETURN_IF_ERROR(ReadString(key));
  ATOM_RETURN_IF_ERROR(Expect(':'));
  return true;
}

StatusOr<bool> JsonReader::NextElement(size_t index) {
  if (Peek() == ']') {
    ++pos_;
    return false;
  }
  if (index > 0) ATOM_RETURN_IF_ERROR(Expect(','));
  if (Peek() == '\0') return Error("unexpected end of the text");
  return true;
}

Status JsonReader::ReadString(std::string* out) {
  out->clear();
  ATOM_RETURN_IF_ERROR(Expect('"'));
  while (true) {
    // Copy the run up to the next quote or backslash in one go.
    size_t run = pos_;
    while (run < end_ && doc_[run] != '"' && doc_[run] != '\\') {
      if (static_cast<unsigned char>(doc_[run]) < 0x20) {
        pos_ = run;
        return Error("control character in a string");
      }
      ++run;
    }
    out->append(doc_.data() + pos_, run - pos_);
    pos_ = run;
    if (pos_ >= end_) return Error("unterminated string");
    if (doc_[pos_++] == '"') return OkStatus();
    if (pos_ >= end_) return Error("unterminated escape");
    const char e = doc_[pos_++];
    switch (e) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        const auto hex4 = [&](uint32_t* v) {
          if (end_ - pos_ < 4) return false;
          *v = 0;
          for (int k = 0; k < 4; ++k) {
            const int d = HexDigit(doc_[pos_ + k]);
            if (d < 0) return false;
            *v = *v * 16 + static_cast<uint32_t>(d);
          }
          pos_ += 4;
          return true;
        };
        uint32_t cp;
        if (!hex4(&cp)) return Error("bad \\u escape");
        if (cp >= 0xD800 && cp < 0xDC00) {
          uint32_t low;
          if (end_ - pos_ < 2 || doc_[pos_] != '\\' || doc_[pos_ + 1] != 'u') {
            return Error("unpaired surrogate in a \\u escape");
          }
          pos_ += 2;
          if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) {
            return Error("unpaired surrogate in a \\u escape");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          return Error("unpaired surrogate in a \\u escape");
        }
        AppendUtf8(cp, out);
        break;
      }
      default:
        return Error(fmt::format("bad escape '\\{}'", e));
    }
  }
}

Status JsonReader::ReadInt(int64_t* out) {
  Peek();
  const size_t start = pos_;
  bool negative = false;
  if (pos_ < end_ && doc_[pos_] == '-') {
    negative = true;
    ++pos_;
  }
  int64_t v = 0;
  size_t digits = 0;
  while (pos_ < end_ && doc_[pos_] >= '0' && doc_[pos_] <= '9') {
    if (++digits > 18) return Error("integer too large");
    v = v * 10 + (doc_[pos_++] - '0');
  }
  if (digits == 0 ||
      (pos_ < end_ && (doc_[pos_] == '.' || doc_[pos_] == 'e' || doc_[pos_] == 'E'))) {
    pos_ = start;
    return Error("expected an integer");
  }
  *out = negative ? -v : v;
  return OkStatus();
}

Status JsonReader::SkipString() {
  ++pos_;  // the opening quote
  while (pos_ < end_) {
    const char* p = static_cast<const char*>(std::memchr(doc_.data() + pos_, '"', end_ - pos_));
    if (p == nullptr) break;
    const size_t quote = p - doc_.data();
    // The quote closes the string unless preceded by an odd number of backslashes.
    size_t backslashes = 0;
    while (quote - backslashes > pos_ && doc_[quote - backslashes - 1] == '\\') ++backslashes;
    pos_ = quote + 1;
    if (backslashes % 2 == 0) return OkStatus();
  }
  pos_ = end_;
  return Error("unterminated string");
}

StatusOr<std::pair<size_t, size_t>> JsonReader::SkipValue() {
  const char c = Peek();
  const size_t begin = pos_;
  if (c == '"') {
    ATOM_RETURN_IF_ERROR(SkipString());
  } else if (c == '{' || c == '[') {
    // Containers: match brackets, skipping strings; the syntax inside is checked by whoever
    // parses this span.
    int depth = 0;
    do {
      const char d = Peek();
      if (d == '\0') return Error("unterminated object or array");
      if (d == '"') {
        ATOM_RETURN_IF_ERROR(SkipString());
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') --depth;
      ++pos_;
    } while (depth > 0);
  } else {
    // A number or literal: up to the next delimiter.
    while (pos_ < end_ && !IsSpace(doc_[pos_]) && doc_[pos_] != ',' && doc_[pos_] != '}' &&
           doc_[pos_] != ']') {
      ++pos_;
    }
    if (pos_ == begin) return Error("expected a value");
  }
  return std::make_pair(begin, pos_);
}

}  // namespace atom::tokenizer_internal
