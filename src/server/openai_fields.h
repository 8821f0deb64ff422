// Typed, strict reading of OpenAI request fields, and the sampling fields both generation
// endpoints share. Internal to the protocol layer (openai_requests.cc).
//
// Conventions (as vLLM and OpenAI clients expect):
//   * a field that is absent or JSON null takes its default;
//   * the type is checked strictly, the error names the field: "temperature must be a number",
//     "n must be an integer" (an integral float such as 2.0 is accepted as an integer, as
//     pydantic does);
//   * ranges are checked by SamplingParams::Validate, whose message names the field.
// The first error wins; later reads return nullopt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.h"
#include "server/api_error.h"

namespace atom::openai_internal {

using Json = nlohmann::ordered_json;

class FieldReader {
 public:
  // REQUIRES: object.is_object(); it must outlive the reader.
  explicit FieldReader(const Json& object) : object_(object) {}

  // The member, or nullptr when absent or null.
  const Json* Find(std::string_view key) const;
  std::optional<double> Number(std::string_view key);
  // An integer in [min, max] (else "KEY must be an integer between MIN and MAX").
  std::optional<int64_t> Integer(std::string_view key, int64_t min = INT32_MIN,
                                 int64_t max = INT32_MAX);
  std::optional<bool> Bool(std::string_view key);
  std::optional<std::string> String(std::string_view key);

  // Records `error` unless one is recorded already.
  void Fail(ApiError error);
  void Fail(std::string param, std::string message) {
    Fail(InvalidRequestError(std::move(param), std::move(message)));
  }
  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }

 private:
  const Json& object_;
  std::optional<ApiError> error_;
};

// The sampling fields common to /v1/chat/completions and /v1/completions, into `params`:
//   n, temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty,
//   repetition_penalty, logit_bias ({"token id as string": bias}), seed (any 64-bit integer),
//   stop (string or array of strings), max_tokens, min_tokens, ignore_eos, and vLLM's extras
//   stop_token_ids (array of ids), include_stop_str_in_output, skip_special_tokens.
// Not range-checked here beyond types (ValidateSampling does that). `max_n` caps n.
void ReadSamplingFields(FieldReader& reader, int max_n, SamplingParams* params);

// SamplingParams::Validate, as a 400 naming the field.
std::optional<ApiError> ValidateSampling(const SamplingParams& params, int64_t vocab_size);

// `model`: absent/null or equal to `served` (else 404 ModelNotFoundError); not a string is 400.
void CheckModel(FieldReader& reader, const std::string& served);

// stream and stream_options.include_usage (stream_options only with stream: true).
void ReadStreamFields(FieldReader& reader, bool* stream, bool* include_usage);

}  // namespace atom::openai_internal
