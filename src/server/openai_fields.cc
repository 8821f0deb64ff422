#include "server/openai_fields.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace atom::openai_internal {
namespace {

// A JSON number that is an integer (an integral float counts), as int64; nullopt otherwise.
std::optional<int64_t> AsInteger(const Json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return int64_t(u);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return int64_t(d);
  }
  return std::nullopt;
}

}  // namespace

const Json* FieldReader::Find(std::string_view key) const {
  auto it = object_.find(key);
  return it == object_.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> FieldReader::Number(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr || !ok()) return std::nullopt;
  if (!v->is_number()) {
    Fail(std::string(key), fmt::format("{} must be a number", key));
    return std::nullopt;
  }
  return v->get<double>();
}

std::optional<int64_t> FieldReader::Integer(std::string_view key, int64_t min, int64_t max) {
  const Json* v = Find(key);
  if (v == nullptr || !ok()) return std::nullopt;
  const std::optional<int64_t> i = v->is_number() ? AsInteger(*v) : std::nullopt;
  if (!i.has_value() || *i < min || *i > max) {
    Fail(std::string(key), fmt::format("{} must be an integer between {} and {}", key, min, max));
    return std::nullopt;
  }
  return i;
}

std::optional<bool> FieldReader::Bool(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr || !ok()) return std::nullopt;
  if (!v->is_boolean()) {
    Fail(std::string(key), fmt::format("{} must be a boolean", key));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::string> FieldReader::String(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr || !ok()) return std::nullopt;
  if (!v->is_string()) {
    Fail(std::string(key), fmt::format("{} must be a string", key));
    return std::nullopt;
  }
  return v->get<std::string>();
}

void FieldReader::Fail(ApiError error) {
  if (!error_.has_value()) error_ = std::move(error);
}

void ReadSamplingFields(FieldReader& r, int max_n, SamplingParams* p) {
  if (auto n = r.Integer("n", 1, max_n)) p->n = int(*n);
  if (auto v = r.Number("temperature")) p->temperature = float(*v);
  if (auto v = r.Number("top_p")) p->top_p = float(*v);
  if (auto v = r.Integer("top_k")) p->top_k = int(*v);
  if (auto v = r.Number("min_p")) p->min_p = float(*v);
  if (auto v = r.Number("presence_penalty")) p->presence_penalty = float(*v);
  if (auto v = r.Number("frequency_penalty")) p->frequency_penalty = float(*v);
  if (auto v = r.Number("repetition_penalty")) p->repetition_penalty = float(*v);
  if (auto v = r.Integer("seed", std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max())) {
    p->seed = uint64_t(*v);
  }
  if (auto v = r.Integer("max_tokens")) p->max_tokens = int(*v);
  if (auto v = r.Integer("min_tokens")) p->min_tokens = int(*v);
  if (auto v = r.Bool("ignore_eos")) p->ignore_eos = *v;
  if (auto v = r.Bool("include_stop_str_in_output")) p->include_stop_str_in_output = *v;
  if (auto v = r.Bool("skip_special_tokens")) p->skip_special_tokens = *v;
  if (!r.ok()) return;

  if (const Json* bias = r.Find("logit_bias")) {
    if (!bias->is_object()) return r.Fail("logit_bias", "logit_bias must be an object");
    for (auto it = bias->begin(); it != bias->end(); ++it) {
      const std::string& key = it.key();
      char* end = nullptr;
      const long long id = key.empty() ? -1 : std::strtoll(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX) {
        return r.Fail("logit_bias", fmt::format("logit_bias: key \"{}\" is not a token id", key));
      }
      if (!it.value().is_number()) {
        return r.Fail("logit_bias",
                      fmt::format("logit_bias: the bias of token {} must be a number", key));
      }
      p->logit_bias[int32_t(id)] = it.value().get<float>();
    }
  }
  if (const Json* stop = r.Find("stop")) {
    if (stop->is_string()) {
      p->stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string()) {
          return r.Fail("stop", fmt::format("stop[{}] must be a string", i));
        }
        p->stop.push_back((*stop)[i].get<std::string>());
      }
    } else {
      return r.Fail("stop", "stop must be a string or an array of strings");
    }
  }
  if (const Json* ids = r.Find("stop_token_ids")) {
    if (!ids->is_array()) return r.Fail("stop_token_ids", "stop_token_ids must be an array");
    for (size_t i = 0; i < ids->size(); ++i) {
      const std::optional<int64_t> id =
          (*ids)[i].is_number() ? AsInteger((*ids)[i]) : std::nullopt;
      if (!id.has_value() || *id < 0 || *id > INT32_MAX) {
        return r.Fail("stop_token_ids", fmt::format("stop_token_ids[{}] must be a token id", i));
      }
      p->stop_token_ids.push_back(int32_t(*id));
    }
  }
}

std::optional<ApiError> ValidateSampling(const SamplingParams& params, int64_t vocab_size) {
  const Status s = params.Validate(vocab_size);
  if (s.ok()) return std::nullopt;
  return InvalidRequestFromStatus(s);
}

void CheckModel(FieldReader& r, const std::string& served) {
  const std::optional<std::string> model = r.String("model");
  if (model.has_value() && *model != served) r.Fail(ModelNotFoundError(*model));
}

void ReadStreamFields(FieldReader& r, bool* stream, bool* include_usage) {
  *stream = r.Bool("stream").value_or(false);
  *include_usage = false;
  const Json* options = r.Find("stream_options");
  if (options == nullptr || !r.ok()) return;
  if (!*stream) {
    return r.Fail("stream_options", "stream_options is only allowed when stream is true");
  }
  if (!options->is_object()) return r.Fail("stream_options", "stream_options must be an object");
  FieldReader sub(*options);
  if (auto v = sub.Bool("include_usage")) *include_usage = *v;
  if (!sub.ok()) {
    r.Fail("stream_options.include_usage", "stream_options.include_usage must be a boolean");
  }
}

}  // namespace atom::openai_internal
