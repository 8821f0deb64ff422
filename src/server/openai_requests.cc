#include "server/openai_requests.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "server/openai_fields.h"
#include "tokenizer/harmony_render.h"

namespace atom {
namespace {

using openai_internal::FieldReader;
using openai_internal::Json;

constexpr int kDefaultCompletionMaxTokens = 16;  // OpenAI's and vLLM's default
constexpr int kMaxCompletionLogprobs = 5;        // the legacy API's limit

ApiResult<Json> ParseBody(std::string_view body) {
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return InvalidRequestError("", "The request body is not valid JSON.");
  }
  if (!json.is_object()) return InvalidRequestError("", "The request body must be a JSON object.");
  return json;
}

// The chat prompt: the request rendered in Harmony for the assistant's next message.
ApiResult<std::vector<int32_t>> RenderChatPrompt(const Json& request,
                                                 const OpenAiServerInfo& info) {
  StatusOr<Conversation> conversation = OpenAiChatToConversation(request, info.chat_options);
  if (!conversation.ok()) return InvalidRequestFromStatus(conversation.status());
  StatusOr<RenderedPrompt> rendered = RenderConversationForCompletion(*conversation);
  if (!rendered.ok()) return InvalidRequestFromStatus(rendered.status());
  StatusOr<std::vector<int32_t>> ids = rendered->Ids(*info.tokenizer);
  if (!ids.ok()) return InternalServerError(ids.status().message());
  return std::move(ids).value();
}

// Whether the request shows tools to the model: a non-empty "tools" and tool_choice not "none".
bool HasTools(const Json& request) {
  auto tools = request.find("tools");
  if (tools == request.end() || !tools->is_array() || tools->empty()) return false;
  auto choice = request.find("tool_choice");
  return !(choice != request.end() && choice->is_string() && *choice == "none");
}

// The prompts fit the context, and so do max_tokens more tokens (`max_tokens_field` names the
// field the client set). With `default_max_tokens`, an unset max_tokens becomes that, lowered to
// what the shortest remaining context allows.
std::optional<ApiError> CheckContext(const OpenAiServerInfo& info,
                                     const std::vector<std::vector<int32_t>>& prompts,
                                     std::string_view prompt_field,
                                     std::string_view max_tokens_field,
                                     std::optional<int> default_max_tokens,
                                     SamplingParams* params) {
  const int64_t limit = info.max_model_len;
  int64_t room = std::numeric_limits<int64_t>::max();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const int64_t len = int64_t(prompts[i].size());
    if (len >= limit) {
      const std::string where =
          prompts.size() > 1 ? fmt::format("{}[{}]", prompt_field, i) : std::string(prompt_field);
      return InvalidRequestError(
          where, fmt::format("{}: this model's maximum context length is {} tokens, but the "
                             "prompt has {} tokens. Please shorten it.",
                             where, limit, len));
    }
    room = std::min(room, limit - len);
  }
  if (params->max_tokens.has_value()) {
    if (*params->max_tokens > room) {
      return InvalidRequestError(
          std::string(max_tokens_field),
          fmt::format("{} is too large: {}. This model's maximum context length is {} tokens and "
                      "the prompt leaves room for {} ({} > {}).",
                      max_tokens_field, *params->max_tokens, limit, room, *params->max_tokens,
                      room));
    }
  } else if (default_max_tokens.has_value()) {
    params->max_tokens = int(std::min<int64_t>(*default_max_tokens, room));
  }
  return std::nullopt;
}

void AddStopId(std::vector<int32_t>* ids, int32_t id) {
  if (std::find(ids->begin(), ids->end(), id) == ids->end()) ids->push_back(id);
}

// A JSON array of token ids within the vocabulary; `path` names it in errors.
ApiResult<std::vector<int32_t>> TokenIds(const Json& array, const std::string& path,
                                         const std::string& param, int32_t vocab) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const Json& v = array[i];
    const bool integer = v.is_number_integer() || v.is_number_unsigned();
    if (!integer) return InvalidRequestError(param, fmt::format("{}[{}] must be a token id", path, i));
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() < uint64_t(vocab)
                                                 : v.get<int64_t>() >= 0 && v.get<int64_t>() < vocab;
    if (!in_range) {
      return InvalidRequestError(
          param, fmt::format("{}[{}]: token id {} is outside the vocabulary [0, {})", path, i,
                             v.dump(), vocab));
    }
    ids.push_back(int32_t(v.get<int64_t>()));
  }
  return ids;
}

struct CompletionPrompts {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::string> texts;  // the text of each (decoded for id prompts)
};

// "prompt": string | [string] | [id] | [[id]].
ApiResult<CompletionPrompts> ReadPrompts(const Json* prompt, const Tokenizer& tokenizer) {
  constexpr const char* kShape =
      "prompt must be a string, an array of strings, an array of token ids or an array of arrays "
      "of token ids";
  if (prompt == nullptr) return InvalidRequestError("prompt", "prompt is required");
  CompletionPrompts out;
  auto add_text = [&](const std::string& text, const std::string& path) -> std::optional<ApiError> {
    std::vector<int32_t> ids = tokenizer.EncodeWithSpecial(text);
    if (ids.empty()) return InvalidRequestError("prompt", path + " must not be empty");
    out.ids.push_back(std::move(ids));
    out.texts.push_back(Utf8Sanitize(text));
    return std::nullopt;
  };
  auto add_ids = [&](const Json& array, const std::string& path) -> std::optional<ApiError> {
    if (array.empty()) return InvalidRequestError("prompt", path + " must not be empty");
    ApiResult<std::vector<int32_t>> ids = TokenIds(array, path, "prompt", tokenizer.vocab_size());
    if (!ids.ok()) return ids.error();
    StatusOr<std::string> text = tokenizer.Decode(ids.value());
    out.texts.push_back(text.ok() ? Utf8Sanitize(*text) : std::string());
    out.ids.push_back(std::move(ids).value());
    return std::nullopt;
  };
  std::optional<ApiError> error;
  if (prompt->is_string()) {
    error = add_text(prompt->get<std::string>(), "prompt");
  } else if (!prompt->is_array()) {
    return InvalidRequestError("prompt", kShape);
  } else if (prompt->empty()) {
    return InvalidRequestError("prompt", "prompt must not be empty");
  } else if ((*prompt)[0].is_number()) {
    error = add_ids(*prompt, "prompt");
  } else {
    for (size_t i = 0; i < prompt->size() && !error.has_value(); ++i) {
      const Json& p = (*prompt)[i];
      const std::string path = fmt::format("prompt[{}]", i);
      if (p.is_string() && (*prompt)[0].is_string()) {
        error = add_text(p.get<std::string>(), path);
      } else if (p.is_array() && (*prompt)[0].is_array()) {
        error = add_ids(p, path);
      } else {
        return InvalidRequestError("prompt", kShape);
      }
    }
  }
  if (error.has_value()) return *error;
  return out;
}

void FillCommon(const OpenAiServerInfo& info, OpenAiEndpoint endpoint, OpenAiRequest* request) {
  request->endpoint = endpoint;
  request->created = CreatedNow(info);
  request->id = MakeResponseId(
      info, endpoint == OpenAiEndpoint::kChatCompletions ? "chatcmpl-" : "cmpl-");
  request->model = info.model_name;
}

}  // namespace

int64_t CreatedNow(const OpenAiServerInfo& info) {
  if (info.clock) return info.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string MakeResponseId(const OpenAiServerInfo& info, std::string_view prefix) {
  if (info.make_id) return std::string(prefix) + info.make_id();
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:016x}", prefix, rng(), rng());
}

ApiResult<OpenAiRequest> ParseChatCompletionRequest(std::string_view body,
                                                    const OpenAiServerInfo& info) {
  ApiResult<Json> json = ParseBody(body);
  if (!json.ok()) return json.error();
  const Json& j = json.value();
  FieldReader r(j);
  OpenAiRequest request;
  FillCommon(info, OpenAiEndpoint::kChatCompletions, &request);
  SamplingParams& p = request.params;

  openai_internal::CheckModel(r, info.model_name);
  openai_internal::ReadStreamFields(r, &request.stream, &request.include_usage);
  openai_internal::ReadSamplingFields(r, info.max_n, &p);
  std::string max_tokens_field = "max_tokens";
  if (auto v = r.Integer("max_completion_tokens", 1, INT32_MAX)) {
    p.max_tokens = int(*v);
    max_tokens_field = "max_completion_tokens";
  }
  const bool logprobs = r.Bool("logprobs").value_or(false);
  const std::optional<int64_t> top =
      r.Integer("top_logprobs", 0, SamplingParams::kMaxLogprobs);
  if (r.ok() && top.has_value() && !logprobs) {
    r.Fail("top_logprobs", "top_logprobs requires logprobs to be true");
  }
  if (logprobs) p.logprobs = int(top.value_or(0));
  if (const Json* format = r.Find("response_format"); format != nullptr && r.ok()) {
    const Json* type = format->is_object() ? FieldReader(*format).Find("type") : nullptr;
    if (type == nullptr || !type->is_string()) {
      r.Fail("response_format.type", "response_format.type must be a string");
    } else if (*type != "text") {
      r.Fail("response_format.type",
             fmt::format("response_format.type \"{}\" is not supported (only \"text\": this "
                         "server does not constrain decoding)",
                         type->get<std::string>()));
    }
  }
  if (!r.ok()) return r.error();

  ApiResult<std::vector<int32_t>> prompt = RenderChatPrompt(j, info);
  if (!prompt.ok()) return prompt.error();
  request.prompts.push_back(std::move(prompt).value());
  request.has_tools = HasTools(j);

  for (const char* name : {"<|return|>", "<|call|>"}) {
    if (auto id = info.tokenizer->SpecialTokenId(name)) AddStopId(&p.stop_token_ids, *id);
  }
  for (int32_t id : info.chat_stop_token_ids) AddStopId(&p.stop_token_ids, id);

  if (auto e = CheckContext(info, request.prompts, "messages", max_tokens_field, std::nullopt, &p)) {
    return *e;
  }
  if (auto e = openai_internal::ValidateSampling(p, info.tokenizer->vocab_size())) return *e;
  return request;
}

ApiResult<OpenAiRequest> ParseCompletionRequest(std::string_view body,
                                                const OpenAiServerInfo& info) {
  ApiResult<Json> json = ParseBody(body);
  if (!json.ok()) return json.error();
  FieldReader r(json.value());
  OpenAiRequest request;
  FillCommon(info, OpenAiEndpoint::kCompletions, &request);
  SamplingParams& p = request.params;

  openai_internal::CheckModel(r, info.model_name);
  if (r.ok() && r.Find("suffix") != nullptr) r.Fail("suffix", "suffix is not supported");
  openai_internal::ReadStreamFields(r, &request.stream, &request.include_usage);
  openai_internal::ReadSamplingFields(r, info.max_n, &p);
  if (auto best_of = r.Integer("best_of", 1, info.max_n); best_of && *best_of != p.n) {
    r.Fail("best_of", fmt::format("best_of must equal n ({}): best_of is not supported", p.n));
  }
  if (auto v = r.Integer("logprobs", 0, kMaxCompletionLogprobs)) p.logprobs = int(*v);
  request.echo = r.Bool("echo").value_or(false);
  if (!r.ok()) return r.error();

  ApiResult<CompletionPrompts> prompts = ReadPrompts(r.Find("prompt"), *info.tokenizer);
  if (!prompts.ok()) return prompts.error();
  request.prompts = std::move(prompts.value().ids);
  if (request.echo) {
    request.prompt_texts = std::move(prompts.value().texts);
    if (p.logprobs.has_value()) p.prompt_logprobs = p.logprobs;
  }
  if (auto e = CheckContext(info, request.prompts, "prompt", "max_tokens",
                            kDefaultCompletionMaxTokens, &p)) {
    return *e;
  }
  if (auto e = openai_internal::ValidateSampling(p, info.tokenizer->vocab_size())) return *e;
  return request;
}

ApiResult<nlohmann::json> HandleTokenize(std::string_view body, const OpenAiServerInfo& info) {
  ApiResult<Json> json = ParseBody(body);
  if (!json.ok()) return json.error();
  FieldReader r(json.value());
  openai_internal::CheckModel(r, info.model_name);
  const bool token_strs = r.Bool("return_token_strs").value_or(false);
  r.Bool("add_special_tokens");  // type-checked; o200k adds no special tokens either way
  if (!r.ok()) return r.error();

  std::vector<int32_t> ids;
  if (r.Find("messages") != nullptr) {
    ApiResult<std::vector<int32_t>> prompt = RenderChatPrompt(json.value(), info);
    if (!prompt.ok()) return prompt.error();
    ids = std::move(prompt).value();
  } else {
    std::optional<std::string> prompt = r.String("prompt");
    if (!r.ok()) return r.error();
    if (!prompt.has_value()) {
      return InvalidRequestError("prompt", "prompt (a string) or messages is required");
    }
    ids = info.tokenizer->EncodeWithSpecial(*prompt);
  }
  nlohmann::json out = nlohmann::json::object();
  out["count"] = ids.size();
  out["max_model_len"] = info.max_model_len;
  out["tokens"] = ids;
  if (token_strs) {
    nlohmann::json strs = nlohmann::json::array();
    for (int32_t id : ids) strs.push_back(Utf8Sanitize(info.tokenizer->TokenBytes(id)));
    out["token_strs"] = std::move(strs);
  }
  return out;
}

ApiResult<nlohmann::json> HandleDetokenize(std::string_view body, const OpenAiServerInfo& info) {
  ApiResult<Json> json = ParseBody(body);
  if (!json.ok()) return json.error();
  FieldReader r(json.value());
  openai_internal::CheckModel(r, info.model_name);
  if (!r.ok()) return r.error();
  const Json* tokens = r.Find("tokens");
  if (tokens == nullptr) return InvalidRequestError("tokens", "tokens is required");
  if (!tokens->is_array()) return InvalidRequestError("tokens", "tokens must be an array");
  ApiResult<std::vector<int32_t>> ids =
      TokenIds(*tokens, "tokens", "tokens", info.tokenizer->vocab_size());
  if (!ids.ok()) return ids.error();
  StatusOr<std::string> text = info.tokenizer->Decode(ids.value());
  if (!text.ok()) return InvalidRequestError("tokens", "tokens: " + text.status().message());
  nlohmann::json out = nlohmann::json::object();
  out["prompt"] = Utf8Sanitize(*text);
  return out;
}

}  // namespace atom
