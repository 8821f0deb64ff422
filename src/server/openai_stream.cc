#include "server/openai_stream.h"

#include <algorithm>
#include <utility>

namespace atom {
namespace {

using Json = nlohmann::json;

const char* ChunkObject(const OpenAiRequest& request) {
  return request.endpoint == OpenAiEndpoint::kChatCompletions ? "chat.completion.chunk"
                                                              : "text_completion";
}

Json ChunkHeader(const OpenAiRequest& request) {
  Json out = Json::object();
  out["id"] = request.id;
  out["object"] = ChunkObject(request);
  out["created"] = request.created;
  out["model"] = request.model;
  return out;
}

// Whether `delta` continues `last` (same kind of text, same tool call), so the two can be
// sent as one event.
bool Mergeable(const ChatDelta& last, const ChatDelta& delta) {
  if (last.kind != delta.kind) return false;
  if (delta.kind == ChatDeltaKind::kReasoning || delta.kind == ChatDeltaKind::kContent) return true;
  return delta.kind == ChatDeltaKind::kToolCallArguments && last.index == delta.index;
}

// Consecutive text deltas of one kind merged.
std::vector<ChatDelta> Merge(std::vector<ChatDelta>& deltas) {
  std::vector<ChatDelta> out;
  for (ChatDelta& d : deltas) {
    if (d.kind == ChatDeltaKind::kBuiltinToolCall) continue;  // not part of the chat API
    if (!out.empty() && Mergeable(out.back(), d)) {
      out.back().text += d.text;
    } else {
      out.push_back(std::move(d));
    }
  }
  return out;
}

Json DeltaJson(const ChatDelta& d) {
  Json delta = Json::object();
  switch (d.kind) {
    case ChatDeltaKind::kReasoning:
      delta["reasoning_content"] = d.text;
      break;
    case ChatDeltaKind::kContent:
      delta["content"] = d.text;
      break;
    case ChatDeltaKind::kToolCallStart: {
      Json call = Json::object();
      call["index"] = d.index;
      call["id"] = d.id;
      call["type"] = "function";
      call["function"] = Json{{"name", d.name}, {"arguments", ""}};
      delta["tool_calls"] = Json::array({std::move(call)});
      break;
    }
    case ChatDeltaKind::kToolCallArguments: {
      Json call = Json::object();
      call["index"] = d.index;
      call["function"] = Json{{"arguments", d.text}};
      delta["tool_calls"] = Json::array({std::move(call)});
      break;
    }
    case ChatDeltaKind::kBuiltinToolCall:
      break;
  }
  return delta;
}

HarmonyChatOutput::Options ChatOptions(const ResponseOptions& options) {
  HarmonyChatOutput::Options o;
  o.make_tool_call_id = options.make_tool_call_id;
  return o;
}

}  // namespace

ChatStreamEncoder::ChatStreamEncoder(const OpenAiRequest& request, const Tokenizer& tokenizer,
                                     int choice_index, const ResponseOptions& options)
    : request_(request),
      tokenizer_(tokenizer),
      index_(choice_index),
      parser_(tokenizer),
      chat_(ChatOptions(options)) {}

Json ChatStreamEncoder::Chunk(Json delta, const char* finish_reason) {
  Json choice = Json::object();
  choice["index"] = index_;
  choice["delta"] = std::move(delta);
  if (request_.logprobs() && !pending_ids_.empty()) {
    choice["logprobs"] = ChatLogprobsJson(tokenizer_, pending_ids_, pending_logprobs_);
    pending_ids_.clear();
    pending_logprobs_.clear();
  } else {
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = finish_reason == nullptr ? Json(nullptr) : Json(finish_reason);
  Json out = ChunkHeader(request_);
  out["choices"] = Json::array({std::move(choice)});
  if (request_.include_usage) out["usage"] = nullptr;
  return out;
}

std::string ChatStreamEncoder::Event(Json delta, const char* finish_reason) {
  return SseEvent(Chunk(std::move(delta), finish_reason));
}

std::string ChatStreamEncoder::Start() {
  if (started_) return "";
  started_ = true;
  Json delta = Json::object();
  delta["role"] = "assistant";
  delta["content"] = "";
  return Event(std::move(delta));
}

std::string ChatStreamEncoder::Push(const RequestOutput& out) {
  if (finished_) return "";
  std::string sse = Start();
  usage_.output_tokens += int64_t(out.token_ids.size());
  usage_.cached_prompt_tokens = std::max(usage_.cached_prompt_tokens,
                                         out.num_cached_prompt_tokens);
  if (request_.logprobs()) {
    pending_ids_.insert(pending_ids_.end(), out.token_ids.begin(), out.token_ids.end());
    pending_logprobs_.insert(pending_logprobs_.end(), out.logprobs.begin(), out.logprobs.end());
  }
  events_.clear();
  deltas_.clear();
  (void)parser_.Push(out.token_ids, &events_);  // anomalies are repaired; see harmony_parser.h
  if (out.finish_reason.has_value()) (void)parser_.Finish(&events_);
  chat_.Consume(events_, &deltas_);
  for (const ChatDelta& d : Merge(deltas_)) sse += Event(DeltaJson(d));
  if (out.finish_reason.has_value()) {
    finished_ = true;
    const std::string reason = chat_.FinishReason(FinishReasonName(*out.finish_reason));
    sse += Event(Json::object(), reason.c_str());
  }
  return sse;
}

CompletionStreamEncoder::CompletionStreamEncoder(const OpenAiRequest& request,
                                                 const Tokenizer& tokenizer, int choice_index)
    : request_(request), tokenizer_(tokenizer), index_(choice_index) {}

std::string CompletionStreamEncoder::Push(const RequestOutput& out) {
  if (finished_) return "";
  usage_.output_tokens += int64_t(out.token_ids.size());
  usage_.cached_prompt_tokens = std::max(usage_.cached_prompt_tokens,
                                         out.num_cached_prompt_tokens);
  const size_t prompt = size_t(index_) / size_t(std::max(request_.params.n, 1));
  std::string text;
  LegacyLogprobs lp;
  lp.offset = text_offset_;
  if (first_ && request_.echo && prompt < request_.prompt_texts.size()) {
    text = request_.prompt_texts[prompt];
    if (request_.logprobs() && prompt < request_.prompts.size()) {
      AddPromptLogprobs(tokenizer_, request_.prompts[prompt], out.prompt_logprobs, &lp);
    }
  }
  first_ = false;
  text += out.text;
  if (request_.logprobs()) {
    for (size_t t = 0; t < out.token_ids.size(); ++t) {
      if (t < out.logprobs.size()) {
        lp.Add(tokenizer_, out.token_ids[t], out.logprobs[t]);
      } else {
        lp.AddUnscored(tokenizer_, out.token_ids[t]);
      }
    }
  }
  text_offset_ = lp.offset;
  const bool finishing = out.finish_reason.has_value();
  if (text.empty() && lp.tokens.empty() && !finishing) return "";

  Json choice = Json::object();
  choice["index"] = index_;
  choice["text"] = std::move(text);
  choice["logprobs"] = request_.logprobs() ? lp.ToJson() : Json(nullptr);
  choice["finish_reason"] =
      finishing ? Json(FinishReasonName(*out.finish_reason)) : Json(nullptr);
  choice["stop_reason"] = StopReasonJson(out.finish_reason, out.stop_token, out.stop_string);
  Json chunk = ChunkHeader(request_);
  chunk["choices"] = Json::array({std::move(choice)});
  if (request_.include_usage) chunk["usage"] = nullptr;
  finished_ = finishing;
  return SseEvent(chunk);
}

std::string EncodeUsageChunk(const OpenAiRequest& request, const UsageInfo& usage) {
  Json chunk = ChunkHeader(request);
  chunk["choices"] = Json::array();
  chunk["usage"] = UsageJson(usage);
  return SseEvent(chunk);
}

}  // namespace atom
