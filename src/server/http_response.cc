#include "server/http_response.h"

#include <fmt/format.h>

#include <ctime>

#include "server/asio.h"

namespace atom::http {
namespace {

// Removes the bytes that could end a header line early.
std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == ':' || c == '(' || c == ')' || c == ',' || c == '/' ||
        c == ';' || c == '<' || c == '=' || c == '>' || c == '?' || c == '@' || c == '[' ||
        c == '\\' || c == ']' || c == '{' || c == '}' || c == '"') {
      return false;
    }
  }
  return true;
}

bool EqualsLower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::string HttpDate() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          *out += fmt::format("\\u{:04x}", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string_view ReasonPhrase(int status) {
  namespace bh = boost::beast::http;
  if (status < 100 || status > 999) return "Unknown";
  bh::status s = bh::int_to_status(static_cast<unsigned>(status));
  if (s == bh::status::unknown) return "Unknown";
  auto r = bh::obsolete_reason(s);
  return std::string_view(r.data(), r.size());
}

bool StatusHasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

std::string FormatResponseHead(const ResponseHead& head) {
  std::string out =
      fmt::format("HTTP/1.{} {} {}\r\nServer: atom.cpp\r\nDate: {}\r\n", head.version == 10 ? 0 : 1,
                  head.status, ReasonPhrase(head.status), HttpDate());
  if (!head.content_type.empty()) {
    out += fmt::format("Content-Type: {}\r\n", Sanitize(head.content_type));
  }
  if (head.content_length) out += fmt::format("Content-Length: {}\r\n", *head.content_length);
  if (head.chunked) out += "Transfer-Encoding: chunked\r\n";
  if (head.version == 10) {
    if (head.keep_alive) out += "Connection: keep-alive\r\n";
  } else if (!head.keep_alive) {
    out += "Connection: close\r\n";
  }
  if (head.extra != nullptr) {
    for (const auto& [name, value] : *head.extra) {
      if (!IsToken(name) || EqualsLower(name, "content-length") ||
          EqualsLower(name, "transfer-encoding") || EqualsLower(name, "connection") ||
          (!head.content_type.empty() && EqualsLower(name, "content-type"))) {
        continue;
      }
      out += name;
      out += ": ";
      out += Sanitize(value);
      out += "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

void AppendChunk(std::string* out, std::string_view data) {
  *out += fmt::format("{:x}\r\n", data.size());
  out->append(data);
  *out += "\r\n";
}

std::string ErrorBody(int status, std::string_view message) {
  std::string_view type = status >= 500 ? "server_error" : "invalid_request_error";
  std::string out = "{\"error\":{\"message\":";
  AppendJsonString(&out, message);
  out += ",\"type\":";
  AppendJsonString(&out, type);
  out += fmt::format(",\"param\":null,\"code\":{}}}}}", status);
  return out;
}

}  // namespace atom::http
