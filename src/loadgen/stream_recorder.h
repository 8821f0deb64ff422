// StreamRecorder: turns the events of one streamed OpenAI response (completions or chat
// completions chunks) into a RequestResult: TTFT, inter-token latencies, token counts and the
// outcome, as vLLM's benchmark_serving measures them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/request_result.h"
#include "loadgen/sse_client.h"

namespace atom::loadgen {

class StreamRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  // `start`: when the request was sent. `disconnect_after`: stop after this many
  // content-bearing chunks (0: never). `nominal_prompt_tokens`: the prompt length reported when
  // the server sends no usage.
  StreamRecorder(Clock::time_point start, int disconnect_after, int64_t nominal_prompt_tokens);

  // One event's data. A chunk is content-bearing when a choice carries non-empty "text"
  // (completions) or delta "content" or "reasoning_content" (chat). Usage chunks give the token
  // counts; {"error": ...} events fail the request. Returns false when the client should
  // disconnect now (--disconnect-after reached).
  bool OnEvent(std::string_view data, Clock::time_point now);

  // The request's result once its stream ended at `now`. Success needs a complete 200 stream
  // that ended with "data: [DONE]" and carried no error event.
  RequestResult Finish(const SseStreamEnd& end, Clock::time_point now) const;

 private:
  Clock::time_point start_;
  int disconnect_after_;
  int64_t nominal_prompt_tokens_;

  Clock::time_point last_content_;
  double ttft_s_ = 0;
  std::vector<double> itl_s_;
  int64_t content_chunks_ = 0;
  bool usage_reported_ = false;
  int64_t usage_prompt_tokens_ = 0;
  int64_t usage_completion_tokens_ = 0;
  bool done_ = false;          // "data: [DONE]" arrived
  bool disconnected_ = false;  // OnEvent asked to disconnect
  std::string error_;          // the first error event or malformed chunk
};

}  // namespace atom::loadgen
