#include "tokenizer/harmony_chat_output.h"

#include <memory>
#include <random>
#include <utility>

namespace atom {
namespace {

constexpr std::string_view kFunctionsPrefix = "functions.";

bool IsNobody(std::string_view recipient) {
  return recipient.empty() || recipient == "all" || recipient == "assistant" ||
         recipient == "user" || recipient == "system" || recipient == "developer";
}

void Add(std::vector<ChatDelta>* deltas, ChatDelta delta) {
  if (deltas != nullptr) deltas->push_back(std::move(delta));
}

}  // namespace

std::function<std::string()> RandomToolCallIds() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [rng] {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
    std::string id = "call_";
    for (int i = 0; i < 24; ++i) id += kAlphabet[pick(*rng)];
    return id;
  };
}

std::function<std::string()> SequentialToolCallIds(std::string prefix) {
  auto next = std::make_shared<size_t>(0);
  return [prefix = std::move(prefix), next] { return prefix + std::to_string((*next)++); };
}

HarmonyChatOutput::HarmonyChatOutput(Options options) : options_(std::move(options)) {
  if (!options_.make_tool_call_id) options_.make_tool_call_id = RandomToolCallIds();
}

HarmonyChatOutput::Route HarmonyChatOutput::RouteOf(const HarmonyMessage& header) const {
  if (header.role != HarmonyRole::kAssistant) return Route::kIgnore;
  const std::string& r = header.recipient;
  if (!IsNobody(r)) {
    if (r.starts_with(kFunctionsPrefix)) return Route::kFunctionCall;
    for (const std::string& ns : options_.builtin_tool_namespaces) {
      if (r == ns || (r.size() > ns.size() && r.starts_with(ns) && r[ns.size()] == '.')) {
        return Route::kBuiltinCall;
      }
    }
    return Route::kFunctionCall;
  }
  const std::string& c = header.channel;
  if (c == "analysis") return Route::kReasoning;
  if (c.empty() || c == "final" || c == "commentary") return Route::kContent;
  return Route::kReasoning;
}

void HarmonyChatOutput::Consume(const HarmonyEvent& event, std::vector<ChatDelta>* deltas) {
  switch (event.kind) {
    case HarmonyEventKind::kMessageStart: {
      open_ = true;
      route_ = RouteOf(event.header);
      if (route_ == Route::kFunctionCall) {
        ChatToolCall call;
        call.id = options_.make_tool_call_id();
        const std::string& r = event.header.recipient;
        call.name = r.starts_with(kFunctionsPrefix) ? r.substr(kFunctionsPrefix.size()) : r;
        ChatDelta d;
        d.kind = ChatDeltaKind::kToolCallStart;
        d.index = output_.tool_calls.size();
        d.id = call.id;
        d.name = call.name;
        output_.tool_calls.push_back(std::move(call));
        Add(deltas, std::move(d));
      } else if (route_ == Route::kBuiltinCall) {
        ChatBuiltinToolCall call;
        call.recipient = event.header.recipient;
        call.channel = event.header.channel;
        call.content_type = event.header.content_type;
        output_.builtin_tool_calls.push_back(std::move(call));
      }
      return;
    }
    case HarmonyEventKind::kContentDelta: {
      if (!open_) return;
      ChatDelta d;
      d.text = event.text;
      switch (route_) {
        case Route::kIgnore:
          return;
        case Route::kReasoning:
          output_.reasoning += event.text;
          d.kind = ChatDeltaKind::kReasoning;
          break;
        case Route::kContent:
          output_.content += event.text;
          d.kind = ChatDeltaKind::kContent;
          break;
        case Route::kFunctionCall:
          output_.tool_calls.back().arguments += event.text;
          d.kind = ChatDeltaKind::kToolCallArguments;
          d.index = output_.tool_calls.size() - 1;
          break;
        case Route::kBuiltinCall:
          output_.builtin_tool_calls.back().input += event.text;
          return;  // reported whole at the end
      }
      Add(deltas, std::move(d));
      return;
    }
    case HarmonyEventKind::kMessageEnd: {
      if (!open_) return;
      open_ = false;
      if (route_ == Route::kIgnore) return;
      last_is_function_call_ = route_ == Route::kFunctionCall;
      last_terminator_ = event.terminator;
      if (route_ == Route::kBuiltinCall) {
        const ChatBuiltinToolCall& call = output_.builtin_tool_calls.back();
        ChatDelta d;
        d.kind = ChatDeltaKind::kBuiltinToolCall;
        d.index = output_.builtin_tool_calls.size() - 1;
        d.name = call.recipient;
        d.text = call.input;
        Add(deltas, std::move(d));
      }
      return;
    }
    case HarmonyEventKind::kStop:
      return;
  }
}

void HarmonyChatOutput::Consume(std::span<const HarmonyEvent> events,
                                std::vector<ChatDelta>* deltas) {
  for (const HarmonyEvent& e : events) Consume(e, deltas);
}

std::string HarmonyChatOutput::FinishReason(std::string_view caller_reason) const {
  if (last_is_function_call_) {
    if (last_terminator_ == HarmonyTerminator::kCall) return "tool_calls";
    bool ended = last_terminator_ == HarmonyTerminator::kEnd ||
                 last_terminator_ == HarmonyTerminator::kEndOfText;
    if (ended && caller_reason == "stop") return "tool_calls";
  }
  return std::string(caller_reason);
}

ChatOutput ParseChatOutput(const Tokenizer& tokenizer, std::span<const int32_t> ids,
                           std::string_view caller_reason, HarmonyChatOutput::Options options) {
  HarmonyParser parser(tokenizer);
  std::vector<HarmonyEvent> events;
  parser.Push(ids, &events).ok();    // anomalies are repaired by the parser
  parser.Finish(&events).ok();
  HarmonyChatOutput chat(std::move(options));
  chat.Consume(events, nullptr);
  ChatOutput out = chat.output();
  out.finish_reason = chat.FinishReason(caller_reason);
  return out;
}

}  // namespace atom
