#include "loadgen/stream_recorder.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace atom::loadgen {

namespace {

using Json = nlohmann::json;

double Seconds(StreamRecorder::Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

bool NonEmptyString(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

int64_t IntegerField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// Whether a chunk's choices carry generated text.
bool HasContent(const Json& chunk) {
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return false;
  for (const Json& choice : *choices) {
    if (!choice.is_object()) continue;
    if (NonEmptyString(choice, "text")) return true;
    auto delta = choice.find("delta");
    if (delta != choice.end() && delta->is_object() &&
        (NonEmptyString(*delta, "content") || NonEmptyString(*delta, "reasoning_content"))) {
      return true;
    }
  }
  return false;
}

// "message" of an OpenAI error object ({"error": {"message": ...}}), else the text itself.
std::string ErrorMessage(std::string_view body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) {
    const Json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string())
      return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  constexpr size_t kMaxLength = 300;
  return std::string(body.substr(0, kMaxLength));
}

}  // namespace

StreamRecorder::StreamRecorder(Clock::time_point start, int disconnect_after,
                               int64_t nominal_prompt_tokens)
    : start_(start),
      disconnect_after_(disconnect_after),
      nominal_prompt_tokens_(nominal_prompt_tokens) {}

bool StreamRecorder::OnEvent(std::string_view data, Clock::time_point now) {
  if (data == "[DONE]") {
    done_ = true;
    return true;
  }
  Json chunk = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!chunk.is_object()) {
    if (error_.empty()) error_ = fmt::format("malformed event: {}", data.substr(0, 200));
    return true;
  }
  if (chunk.contains("error")) {
    if (error_.empty()) error_ = "error event: " + ErrorMessage(data);
    return true;
  }
  if (auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
    usage_reported_ = true;
    usage_prompt_tokens_ = IntegerField(*usage, "prompt_tokens");
    usage_completion_tokens_ = IntegerField(*usage, "completion_tokens");
  }
  if (!HasContent(chunk)) return true;
  if (content_chunks_ == 0) {
    ttft_s_ = Seconds(now - start_);
  } else {
    itl_s_.push_back(Seconds(now - last_content_));
  }
  last_content_ = now;
  ++content_chunks_;
  if (disconnect_after_ > 0 && content_chunks_ >= disconnect_after_) {
    disconnected_ = true;
    return false;
  }
  return true;
}

RequestResult StreamRecorder::Finish(const SseStreamEnd& end, Clock::time_point now) const {
  RequestResult r;
  r.http_status = end.http_status;
  r.ttft_s = ttft_s_;
  r.itl_s = itl_s_;
  r.e2e_s = Seconds(now - start_);
  r.content_chunks = content_chunks_;
  r.usage_reported = usage_reported_;
  r.prompt_tokens = usage_reported_ ? usage_prompt_tokens_ : nominal_prompt_tokens_;
  r.output_tokens = usage_reported_ ? usage_completion_tokens_ : content_chunks_;
  r.outcome = RequestOutcome::kFailed;
  switch (end.kind) {
    case SseStreamEnd::Kind::kStopped:
      if (disconnected_) {
        r.outcome = RequestOutcome::kDisconnected;
      } else {
        r.error = end.message;
      }
      break;
    case SseStreamEnd::Kind::kHttpError:
      r.error = fmt::format("HTTP {}: {}", end.http_status, ErrorMessage(end.message));
      break;
    case SseStreamEnd::Kind::kTransportError:
      r.error = content_chunks_ == 0
                    ? end.message
                    : fmt::format("{} (after {} content chunks)", end.message, content_chunks_);
      break;
    case SseStreamEnd::Kind::kComplete:
      if (!error_.empty()) {
        r.error = error_;
      } else if (!done_) {
        r.error = "the stream ended without data: [DONE]";
      } else {
        r.outcome = RequestOutcome::kSuccess;
      }
      break;
  }
  return r;
}

}  // namespace atom::loadgen
