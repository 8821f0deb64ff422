#include "server/api_error.h"

#include <fmt/format.h>

namespace atom {
namespace {

constexpr const char* kInvalidRequest = "invalid_request_error";

nlohmann::json NullIfEmpty(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

// The field path a message starts with: "top_p must ..." -> "top_p",
// "messages[2].role: unknown" -> "messages[2].role", "min_tokens (3) must" -> "min_tokens",
// "stop may hold" -> "stop". Empty when the message does not start with a field path followed by
// ":", " must ", " may " or " (".
std::string LeadingField(std::string_view message) {
  size_t end = 0;
  while (end < message.size()) {
    const char c = message[end];
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '[' || c == ']';
    if (!word) break;
    ++end;
  }
  if (end == 0) return "";
  const std::string_view rest = message.substr(end);
  for (std::string_view follow : {":", " must ", " may ", " ("}) {
    if (rest.starts_with(follow)) return std::string(message.substr(0, end));
  }
  return "";
}

}  // namespace

nlohmann::json ToJsonValue(const ApiError& error) {
  nlohmann::json inner = nlohmann::json::object();
  inner["message"] = error.message;
  inner["type"] = error.type;
  inner["param"] = NullIfEmpty(error.param);
  inner["code"] = NullIfEmpty(error.code);
  nlohmann::json out = nlohmann::json::object();
  out["error"] = std::move(inner);
  return out;
}

std::string ToJson(const ApiError& error) {
  // Messages may quote user bytes that are not UTF-8: replace them rather than throw.
  return ToJsonValue(error).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError InvalidRequestError(std::string param, std::string message) {
  return ApiError{400, kInvalidRequest, std::move(message), std::move(param), ""};
}

ApiError InvalidRequestFromStatus(const Status& status) {
  return InvalidRequestError(LeadingField(status.message()), status.message());
}

ApiError UnauthorizedError(bool key_missing) {
  return ApiError{401, kInvalidRequest,
                  key_missing ? "Missing API key: send it as 'Authorization: Bearer KEY'."
                              : "Incorrect API key provided.",
                  "", "invalid_api_key"};
}

ApiError ModelNotFoundError(std::string_view model) {
  return ApiError{404, kInvalidRequest, fmt::format("The model `{}` does not exist.", model),
                  "model", "model_not_found"};
}

ApiError RouteNotFoundError(std::string_view path) {
  return ApiError{404, kInvalidRequest, fmt::format("Not found: {}", path), "", "not_found"};
}

ApiError MethodNotAllowedError(std::string_view method, std::string_view path) {
  return ApiError{405, kInvalidRequest,
                  fmt::format("Method {} is not allowed for {}", method, path), "",
                  "method_not_allowed"};
}

ApiError PayloadTooLargeError(size_t size, size_t limit) {
  return ApiError{413, kInvalidRequest,
                  fmt::format("The request body is {} bytes; the limit is {} bytes.", size, limit),
                  "", "request_too_large"};
}

ApiError TooManyRequestsError(std::string message) {
  return ApiError{429, "rate_limit_exceeded", std::move(message), "", "rate_limit_exceeded"};
}

ApiError ServiceUnavailableError(std::string message) {
  return ApiError{503, "service_unavailable", std::move(message), "", "service_unavailable"};
}

ApiError InternalServerError(std::string message) {
  return ApiError{500, "server_error", std::move(message), "", "internal_error"};
}

ApiError ApiErrorFromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnimplemented:
      return InvalidRequestFromStatus(status);
    case StatusCode::kNotFound:
      return ApiError{404, kInvalidRequest, status.message(), "", "not_found"};
    case StatusCode::kResourceExhausted:
      return ServiceUnavailableError(status.message());
    default:
      return InternalServerError(status.message());
  }
}

}  // namespace atom
