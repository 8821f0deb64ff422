#include "server/openai_responses.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "tokenizer/harmony_chat_output.h"

namespace atom {
namespace {

using Json = nlohmann::json;

constexpr double kMinJsonLogprob = -9999.0;

Json BytesJson(std::string_view bytes) {
  Json out = Json::array();
  for (char c : bytes) out.push_back(int(static_cast<unsigned char>(c)));
  return out;
}

// One entry of chat logprobs (without top_logprobs).
Json ChatTokenLogprob(const Tokenizer& tokenizer, int32_t id, float logprob) {
  Json entry = Json::object();
  entry["token"] = TokenText(tokenizer, id);
  entry["logprob"] = JsonLogprob(logprob);
  entry["bytes"] = BytesJson(tokenizer.TokenBytes(id));
  return entry;
}

Json MessageJson(const ChatOutput& output) {
  Json message = Json::object();
  message["role"] = "assistant";
  if (!output.content.empty()) {
    message["content"] = output.content;
  } else {
    message["content"] = output.tool_calls.empty() ? Json("") : Json(nullptr);
  }
  message["reasoning_content"] = output.reasoning.empty() ? Json(nullptr) : Json(output.reasoning);
  if (!output.tool_calls.empty()) {
    Json calls = Json::array();
    for (const ChatToolCall& call : output.tool_calls) {
      Json function = Json::object();
      function["name"] = call.name;
      function["arguments"] = call.arguments;
      Json c = Json::object();
      c["id"] = call.id;
      c["type"] = "function";
      c["function"] = std::move(function);
      calls.push_back(std::move(c));
    }
    message["tool_calls"] = std::move(calls);
  }
  return message;
}

const char* ReasonName(std::optional<FinishReason> reason) {
  return FinishReasonName(reason.value_or(FinishReason::kAbort));
}

Json ResponseHeader(const OpenAiRequest& request, const char* object) {
  Json out = Json::object();
  out["id"] = request.id;
  out["object"] = object;
  out["created"] = request.created;
  out["model"] = request.model;
  return out;
}

}  // namespace

void SequenceResult::Append(const RequestOutput& out) {
  token_ids.insert(token_ids.end(), out.token_ids.begin(), out.token_ids.end());
  text += out.text;
  logprobs.insert(logprobs.end(), out.logprobs.begin(), out.logprobs.end());
  if (!out.prompt_logprobs.empty()) prompt_logprobs = out.prompt_logprobs;
  num_cached_prompt_tokens = std::max(num_cached_prompt_tokens, out.num_cached_prompt_tokens);
  if (out.finish_reason.has_value()) {
    finish_reason = out.finish_reason;
    stop_token = out.stop_token;
    stop_string = out.stop_string;
  }
}

UsageInfo ComputeUsage(const OpenAiRequest& request, std::span<const ChoiceUsage> choices) {
  UsageInfo usage;
  for (const std::vector<int32_t>& p : request.prompts) usage.prompt_tokens += int64_t(p.size());
  const size_t n = size_t(std::max(request.params.n, 1));
  std::vector<int64_t> cached(request.prompts.size(), 0);
  for (size_t i = 0; i < choices.size(); ++i) {
    usage.completion_tokens += choices[i].output_tokens;
    if (i / n < cached.size()) {
      cached[i / n] = std::max(cached[i / n], choices[i].cached_prompt_tokens);
    }
  }
  for (int64_t c : cached) usage.cached_tokens += c;
  return usage;
}

UsageInfo ComputeUsage(const OpenAiRequest& request, std::span<const SequenceResult> choices) {
  std::vector<ChoiceUsage> usage;
  usage.reserve(choices.size());
  for (const SequenceResult& s : choices) {
    usage.push_back({int64_t(s.token_ids.size()), s.num_cached_prompt_tokens});
  }
  return ComputeUsage(request, usage);
}

Json UsageJson(const UsageInfo& usage) {
  Json out = Json::object();
  out["prompt_tokens"] = usage.prompt_tokens;
  out["completion_tokens"] = usage.completion_tokens;
  out["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  out["prompt_tokens_details"] = Json{{"cached_tokens", usage.cached_tokens}};
  return out;
}

Json BuildChatCompletion(const OpenAiRequest& request, const Tokenizer& tokenizer,
                         std::span<const SequenceResult> choices,
                         const ResponseOptions& options) {
  HarmonyChatOutput::Options parse_options;
  parse_options.make_tool_call_id = options.make_tool_call_id;
  Json out = ResponseHeader(request, "chat.completion");
  Json array = Json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const SequenceResult& s = choices[i];
    const ChatOutput parsed =
        ParseChatOutput(tokenizer, s.token_ids, ReasonName(s.finish_reason), parse_options);
    Json choice = Json::object();
    choice["index"] = i;
    choice["message"] = MessageJson(parsed);
    choice["logprobs"] = request.logprobs()
                             ? ChatLogprobsJson(tokenizer, s.token_ids, s.logprobs)
                             : Json(nullptr);
    choice["finish_reason"] = parsed.finish_reason;
    choice["stop_reason"] = StopReasonJson(s.finish_reason, s.stop_token, s.stop_string);
    array.push_back(std::move(choice));
  }
  out["choices"] = std::move(array);
  out["usage"] = UsageJson(ComputeUsage(request, choices));
  return out;
}

Json BuildCompletion(const OpenAiRequest& request, const Tokenizer& tokenizer,
                     std::span<const SequenceResult> choices) {
  Json out = ResponseHeader(request, "text_completion");
  Json array = Json::array();
  const size_t n = size_t(std::max(request.params.n, 1));
  for (size_t i = 0; i < choices.size(); ++i) {
    const SequenceResult& s = choices[i];
    const size_t prompt = i / n;
    std::string text;
    if (request.echo && prompt < request.prompt_texts.size()) text = request.prompt_texts[prompt];
    text += s.text;
    Json choice = Json::object();
    choice["index"] = i;
    choice["text"] = std::move(text);
    if (request.logprobs()) {
      LegacyLogprobs lp;
      if (request.echo && prompt < request.prompts.size()) {
        AddPromptLogprobs(tokenizer, request.prompts[prompt], s.prompt_logprobs, &lp);
      }
      for (size_t t = 0; t < s.token_ids.size(); ++t) {
        if (t < s.logprobs.size()) {
          lp.Add(tokenizer, s.token_ids[t], s.logprobs[t]);
        } else {
          lp.AddUnscored(tokenizer, s.token_ids[t]);
        }
      }
      choice["logprobs"] = lp.ToJson();
    } else {
      choice["logprobs"] = nullptr;
    }
    choice["finish_reason"] = ReasonName(s.finish_reason);
    choice["stop_reason"] = StopReasonJson(s.finish_reason, s.stop_token, s.stop_string);
    array.push_back(std::move(choice));
  }
  out["choices"] = std::move(array);
  out["usage"] = UsageJson(ComputeUsage(request, choices));
  return out;
}

Json BuildModelList(const OpenAiServerInfo& info, int64_t created) {
  Json model = Json::object();
  model["id"] = info.model_name;
  model["object"] = "model";
  model["created"] = created;
  model["owned_by"] = "atom";
  model["max_model_len"] = info.max_model_len;
  Json out = Json::object();
  out["object"] = "list";
  out["data"] = Json::array({std::move(model)});
  return out;
}

Json ChatLogprobsJson(const Tokenizer& tokenizer, std::span<const int32_t> ids,
                      std::span<const SampleResult> logprobs) {
  Json content = Json::array();
  for (size_t i = 0; i < ids.size() && i < logprobs.size(); ++i) {
    Json entry = ChatTokenLogprob(tokenizer, ids[i], logprobs[i].logprob);
    Json top = Json::array();
    for (const TokenLogprob& t : logprobs[i].top_logprobs) {
      top.push_back(ChatTokenLogprob(tokenizer, t.token, t.logprob));
    }
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return Json{{"content", std::move(content)}};
}

void LegacyLogprobs::AddUnscored(const Tokenizer& tokenizer, int32_t id) {
  std::string text = TokenText(tokenizer, id);
  text_offset.push_back(offset);
  offset += int64_t(text.size());
  tokens.push_back(std::move(text));
  token_logprobs.push_back(nullptr);
  top_logprobs.push_back(nullptr);
}

void LegacyLogprobs::Add(const Tokenizer& tokenizer, int32_t id, const SampleResult& logprob) {
  std::string text = TokenText(tokenizer, id);
  Json top = Json::object();
  for (const TokenLogprob& t : logprob.top_logprobs) {
    top[TokenText(tokenizer, t.token)] = JsonLogprob(t.logprob);
  }
  if (!top.contains(text)) top[text] = JsonLogprob(logprob.logprob);
  text_offset.push_back(offset);
  offset += int64_t(text.size());
  tokens.push_back(std::move(text));
  token_logprobs.push_back(JsonLogprob(logprob.logprob));
  top_logprobs.push_back(std::move(top));
}

Json LegacyLogprobs::ToJson() const {
  Json out = Json::object();
  out["tokens"] = tokens;
  out["token_logprobs"] = token_logprobs;
  out["top_logprobs"] = top_logprobs;
  out["text_offset"] = text_offset;
  return out;
}

void AddPromptLogprobs(const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                       std::span<const SampleResult> prompt_logprobs, LegacyLogprobs* out) {
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (i >= 1 && i - 1 < prompt_logprobs.size()) {
      out->Add(tokenizer, prompt[i], prompt_logprobs[i - 1]);
    } else {
      out->AddUnscored(tokenizer, prompt[i]);
    }
  }
}

std::string TokenText(const Tokenizer& tokenizer, int32_t id) {
  if (id < 0 || id >= tokenizer.vocab_size()) return "\xEF\xBF\xBD";
  return Utf8Sanitize(tokenizer.TokenBytes(id));
}

double JsonLogprob(float logprob) {
  if (std::isnan(logprob)) return kMinJsonLogprob;
  return std::max(double(logprob), kMinJsonLogprob);
}

Json StopReasonJson(std::optional<FinishReason> reason, std::optional<int32_t> stop_token,
                    const std::string& stop_string) {
  if (reason != FinishReason::kStop) return nullptr;
  if (!stop_string.empty()) return stop_string;
  if (stop_token.has_value()) return *stop_token;
  return nullptr;
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string SseEvent(const Json& value) { return "data: " + DumpJson(value) + "\n\n"; }

std::string SseDone() { return "data: [DONE]\n\n"; }

}  // namespace atom
