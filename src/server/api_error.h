// ApiError: an OpenAI-style error response, {"error": {"message", "type", "param", "code"}}, and
// the statuses the server answers with. Every message names the field it is about (`param`).
//
//   400 invalid_request_error  malformed JSON, a field of the wrong type or out of range, a prompt
//                              longer than the context (param = the field, e.g. "temperature")
//   401 invalid_request_error  wrong or missing API key (code "invalid_api_key")
//   404 invalid_request_error  unknown model (param "model", code "model_not_found") or route
//   413 invalid_request_error  request body over the limit
//   429 rate_limit_exceeded / 503 service_unavailable: overload (the HTTP layer adds Retry-After)
//   500 server_error           an internal failure
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace atom {

struct ApiError {
  int status = 400;  // the HTTP status
  std::string type;  // "invalid_request_error", "server_error", ...
  std::string message;
  std::string param;  // the field at fault; empty = null
  std::string code;   // machine-readable code; empty = null

  bool operator==(const ApiError&) const = default;
};

// {"error": {"message": ..., "type": ..., "param": ... | null, "code": ... | null}}
nlohmann::json ToJsonValue(const ApiError& error);
std::string ToJson(const ApiError& error);

// 400 invalid_request_error about `param` (may be empty); `message` should name it.
ApiError InvalidRequestError(std::string param, std::string message);
// 400 whose param is the field path the status message starts with ("top_p must be in ...",
// "messages[2].role: unknown role" -> "messages[2].role"); empty when the message does not start
// with a field path followed by ":", " must ", " may " or " (".
ApiError InvalidRequestFromStatus(const Status& status);
// 401: "Incorrect API key provided." / missing key.
ApiError UnauthorizedError(bool key_missing);
// 404: "The model `x` does not exist." (param "model", code "model_not_found").
ApiError ModelNotFoundError(std::string_view model);
// 404 for an unknown route: "Not found: /path".
ApiError RouteNotFoundError(std::string_view path);
// 405: "Method M is not allowed for /path".
ApiError MethodNotAllowedError(std::string_view method, std::string_view path);
// 413: "The request body is N bytes; the limit is L bytes."
ApiError PayloadTooLargeError(size_t size, size_t limit);
// 429 rate_limit_exceeded.
ApiError TooManyRequestsError(std::string message);
// 503 service_unavailable (overloaded, or not ready yet).
ApiError ServiceUnavailableError(std::string message);
// 500 server_error.
ApiError InternalServerError(std::string message);
// A Status from lower layers: kInvalidArgument / kOutOfRange -> 400 (InvalidRequestFromStatus),
// kNotFound -> 404, kResourceExhausted -> 503, kUnimplemented -> 400, anything else -> 500.
ApiError ApiErrorFromStatus(const Status& status);

// A value or an ApiError (the result of parsing a request).
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  // REQUIRES: ok().
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  // REQUIRES: !ok().
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace atom
