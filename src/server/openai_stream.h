// Streaming responses: one encoder per choice turns that choice's RequestOutputs into
// server-sent events ("data: {json}\n\n"). The HTTP layer writes the events of all choices as
// they come, then, once every choice has finished, EncodeUsageChunk (with
// stream_options.include_usage) and SseDone().
//
// Chat ("chat.completion.chunk"): the first event has delta {"role": "assistant", "content":
// ""}; then one event per piece of the Harmony parse (openai_responses.h has the mapping):
// {"reasoning_content": text}, {"content": text}, {"tool_calls": [{"index", "id", "type":
// "function", "function": {"name", "arguments": ""}}]} when a call begins and
// {"tool_calls": [{"index", "function": {"arguments": text}}]} as its arguments arrive; the
// last event has an empty delta and the finish_reason. Logprobs (when requested) ride on the
// next event after their tokens arrive, so concatenating the events' logprobs.content gives the
// non-streaming list; concatenating the deltas gives the non-streaming message exactly.
// Completions ("text_completion"): one event per output with text (the prompt's text first with
// echo) and legacy logprobs; the last also carries finish_reason and stop_reason.
// With include_usage every chunk has "usage": null (as OpenAI sends it). Not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request_output.h"
#include "server/openai_requests.h"
#include "server/openai_responses.h"
#include "tokenizer/harmony_chat_output.h"
#include "tokenizer/harmony_parser.h"

namespace atom {

class ChatStreamEncoder {
 public:
  // `request` and `tokenizer` must outlive the encoder. `choice_index` in [0, num_choices()).
  ChatStreamEncoder(const OpenAiRequest& request, const Tokenizer& tokenizer, int choice_index,
                    const ResponseOptions& options = {});

  // The role event; sent once (Push sends it first if Start was not called).
  std::string Start();
  // The events for one output of this choice (possibly none). After the output with a
  // finish_reason, further calls return "".
  std::string Push(const RequestOutput& out);

  bool finished() const { return finished_; }
  ChoiceUsage usage() const { return usage_; }

 private:
  nlohmann::json Chunk(nlohmann::json delta, const char* finish_reason);
  std::string Event(nlohmann::json delta, const char* finish_reason = nullptr);

  const OpenAiRequest& request_;
  const Tokenizer& tokenizer_;
  int index_;
  HarmonyParser parser_;
  HarmonyChatOutput chat_;
  bool started_ = false;
  bool finished_ = false;
  ChoiceUsage usage_;
  // Tokens (and their logprobs) not yet reported in an event.
  std::vector<int32_t> pending_ids_;
  std::vector<SampleResult> pending_logprobs_;
  std::vector<HarmonyEvent> events_;
  std::vector<ChatDelta> deltas_;
};

class CompletionStreamEncoder {
 public:
  CompletionStreamEncoder(const OpenAiRequest& request, const Tokenizer& tokenizer,
                          int choice_index);

  std::string Push(const RequestOutput& out);

  bool finished() const { return finished_; }
  ChoiceUsage usage() const { return usage_; }

 private:
  const OpenAiRequest& request_;
  const Tokenizer& tokenizer_;
  int index_;
  bool first_ = true;
  bool finished_ = false;
  ChoiceUsage usage_;
  int64_t text_offset_ = 0;
};

// The usage event: the request's chunk object with "choices": [] and "usage".
std::string EncodeUsageChunk(const OpenAiRequest& request, const UsageInfo& usage);

}  // namespace atom
