// Bytes on the wire for HTTP responses: status line and headers, chunk framing, error bodies.
//
// Pure functions, no I/O; used by the HTTP session (http_session.cc). Values that come from a
// handler are sanitised here (CR, LF and NUL removed) so a header can never split a response.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atom::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// "OK", "Not Found", ...; "Unknown" for codes without a standard phrase.
std::string_view ReasonPhrase(int status);

// True for statuses that never carry a body (1xx, 204, 304).
bool StatusHasNoBody(int status);

struct ResponseHead {
  int version = 11;  // 10 or 11: the request's version, echoed in the status line
  int status = 200;
  std::string_view content_type;         // omitted when empty
  const HeaderList* extra = nullptr;     // handler headers; framing headers in it are dropped
  std::optional<size_t> content_length;  // Content-Length when set
  bool chunked = false;                  // Transfer-Encoding: chunked
  bool keep_alive = true;                // Connection: keep-alive / close as the version needs
};

// The status line, headers and the blank line that ends them.
std::string FormatResponseHead(const ResponseHead& head);

// One chunk of a chunked body: "<hex size>\r\n<data>\r\n". REQUIRES: !data.empty().
void AppendChunk(std::string* out, std::string_view data);

// The last chunk of a chunked body (no trailers).
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// An OpenAI-style error body: {"error":{"message":...,"type":...,"param":null,"code":status}}.
std::string ErrorBody(int status, std::string_view message);

}  // namespace atom::http
