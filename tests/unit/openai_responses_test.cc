// Response JSON and SSE streams: reasoning + final and tool-call outputs, non-streaming and
// streaming (the deltas reconstruct the whole message exactly), logprobs, usage, completions,
// /v1/models and error bodies.
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "openai_test_util.h"
#include "server/api_error.h"
#include "server/openai_responses.h"
#include "server/openai_stream.h"

namespace atom {
namespace {

using nlohmann::json;
using testing::OutputsFor;
using testing::TestServerInfo;

constexpr const char* kReasoningFinal =
    "<|channel|>analysis<|message|>User asks: 2 + 2. Simple.<|end|><|start|>assistant"
    "<|channel|>final<|message|>2 + 2 = 4 \xF0\x9F\x98\x80.<|return|>";
constexpr const char* kToolCall =
    "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant"
    "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
    "{\"city\": \"Paris\"}<|call|>";

const Tokenizer& Tok() { return testing::O200kFromTiktoken(); }
std::vector<int32_t> Ids(const char* text) { return Tok().EncodeWithSpecial(text); }

OpenAiRequest ChatRequest(const std::string& extra = "") {
  auto r = ParseChatCompletionRequest(
      R"({"messages": [{"role": "user", "content": "What is 2 + 2?"}])" + extra + "}",
      TestServerInfo());
  EXPECT_TRUE(r.ok());
  return r.value();
}

ResponseOptions SequentialIds() { return ResponseOptions{SequentialToolCallIds()}; }

SequenceResult Accumulate(const std::vector<RequestOutput>& outs) {
  SequenceResult s;
  for (const RequestOutput& o : outs) s.Append(o);
  return s;
}

// Splits an SSE stream into its JSON events; checks the framing. `done` is set when the
// stream ends with [DONE].
std::vector<json> ParseSse(const std::string& sse, bool* done = nullptr) {
  std::vector<json> events;
  size_t pos = 0;
  if (done != nullptr) *done = false;
  while (pos < sse.size()) {
    EXPECT_EQ(sse.compare(pos, 6, "data: "), 0) << sse.substr(pos);
    const size_t end = sse.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    const std::string payload = sse.substr(pos + 6, end - pos - 6);
    EXPECT_EQ(payload.find('\n'), std::string::npos);
    if (payload == "[DONE]") {
      EXPECT_EQ(end + 2, sse.size()) << "[DONE] must come last";
      if (done != nullptr) *done = true;
    } else {
      events.push_back(json::parse(payload));
    }
    pos = end + 2;
  }
  return events;
}

// What a client reassembles from chat chunks: the message, finish_reason and logprobs.
struct Reassembled {
  json message = json::object();
  json finish_reason;
  json logprobs = json::array();
};

Reassembled Reassemble(const std::vector<json>& chunks) {
  Reassembled r;
  std::string content, reasoning;
  bool has_reasoning = false;
  std::map<int, json> calls;
  for (const json& chunk : chunks) {
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], "chatcmpl-test");
    EXPECT_EQ(chunk["created"], testing::kTestCreated);
    EXPECT_EQ(chunk["model"], "gpt-oss-test");
    if (chunk["choices"].empty()) continue;
    const json& choice = chunk["choices"][0];
    const json& delta = choice["delta"];
    if (delta.contains("role")) r.message["role"] = delta["role"];
    if (delta.contains("content")) content += delta["content"].get<std::string>();
    if (delta.contains("reasoning_content")) {
      has_reasoning = true;
      reasoning += delta["reasoning_content"].get<std::string>();
    }
    if (delta.contains("tool_calls")) {
      for (const json& call : delta["tool_calls"]) {
        json& c = calls[call["index"].get<int>()];
        if (call.contains("id")) {
          c["id"] = call["id"];
          c["type"] = call["type"];
          c["function"]["name"] = call["function"]["name"];
          c["function"]["arguments"] = "";
        }
        c["function"]["arguments"] = c["function"]["arguments"].get<std::string>() +
                                     call["function"]["arguments"].get<std::string>();
      }
    }
    if (!choice["logprobs"].is_null()) {
      for (const json& e : choice["logprobs"]["content"]) r.logprobs.push_back(e);
    }
    if (!choice["finish_reason"].is_null()) r.finish_reason = choice["finish_reason"];
  }
  r.message["content"] = content.empty() && !calls.empty() ? json(nullptr) : json(content);
  r.message["reasoning_content"] = has_reasoning ? json(reasoning) : json(nullptr);
  if (!calls.empty()) {
    r.message["tool_calls"] = json::array();
    for (auto& [i, c] : calls) r.message["tool_calls"].push_back(c);
  }
  return r;
}

std::string Stream(const OpenAiRequest& request, const std::vector<RequestOutput>& outs) {
  ChatStreamEncoder encoder(request, Tok(), 0, SequentialIds());
  std::string sse = encoder.Start();
  for (const RequestOutput& o : outs) sse += encoder.Push(o);
  EXPECT_TRUE(encoder.finished());
  EXPECT_EQ(encoder.Push(outs.back()), "");
  return sse;
}

TEST(OpenAiResponses, ChatReasoningAndFinal) {
  const OpenAiRequest request = ChatRequest();
  const std::vector<int32_t> ids = Ids(kReasoningFinal);
  const SequenceResult s = Accumulate(OutputsFor(ids, 1, FinishReason::kStop, -1, 64, 16));
  const json r = BuildChatCompletion(request, Tok(), {&s, 1}, SequentialIds());
  EXPECT_EQ(r["id"], "chatcmpl-test");
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["created"], testing::kTestCreated);
  EXPECT_EQ(r["model"], "gpt-oss-test");
  ASSERT_EQ(r["choices"].size(), 1u);
  const json& choice = r["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"], json::parse(R"({"role": "assistant",
      "content": "2 + 2 = 4 \ud83d\ude00.", "reasoning_content": "User asks: 2 + 2. Simple."})"));
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["stop_reason"], 200002);
  EXPECT_TRUE(choice["logprobs"].is_null());
  EXPECT_EQ(r["usage"], json::parse(R"({"prompt_tokens": 64, "completion_tokens": )" +
                                    std::to_string(ids.size()) + R"(, "total_tokens": )" +
                                    std::to_string(64 + ids.size()) +
                                    R"(, "prompt_tokens_details": {"cached_tokens": 16}})"));
}

TEST(OpenAiResponses, ChatToolCall) {
  const OpenAiRequest request = ChatRequest();
  const SequenceResult s = Accumulate(OutputsFor(Ids(kToolCall), 1, FinishReason::kStop));
  const json r = BuildChatCompletion(request, Tok(), {&s, 1}, SequentialIds());
  const json& choice = r["choices"][0];
  EXPECT_EQ(choice["message"], json::parse(R"({"role": "assistant", "content": null,
      "reasoning_content": "Need the weather.", "tool_calls": [{"id": "call_0",
      "type": "function", "function": {"name": "get_weather",
      "arguments": "{\"city\": \"Paris\"}"}}]})"));
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
}

TEST(OpenAiResponses, ChatLengthAndEmpty) {
  const OpenAiRequest request = ChatRequest();
  std::vector<int32_t> ids = Ids(kReasoningFinal);
  ids.resize(6);  // cut inside the reasoning
  const SequenceResult s = Accumulate(OutputsFor(ids, 1, FinishReason::kLength));
  const json r = BuildChatCompletion(request, Tok(), {&s, 1});
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "");
  EXPECT_EQ(r["choices"][0]["stop_reason"], nullptr);
}

// Streaming reconstructs the non-streaming message exactly, for one token per output and for
// several, with and without logprobs.
TEST(OpenAiResponses, ChatStreamReconstructsMessage) {
  for (const char* text : {kReasoningFinal, kToolCall}) {
    for (size_t step : {1u, 3u, 1000u}) {
      for (bool logprobs : {false, true}) {
        SCOPED_TRACE(std::string(text) + " step " + std::to_string(step));
        const OpenAiRequest request =
            ChatRequest(logprobs ? R"(, "logprobs": true, "top_logprobs": 2)" : "");
        const std::vector<RequestOutput> outs =
            OutputsFor(Ids(text), step, FinishReason::kStop, logprobs ? 2 : -1);
        const SequenceResult s = Accumulate(outs);
        const json whole = BuildChatCompletion(request, Tok(), {&s, 1}, SequentialIds());
        const std::vector<json> chunks = ParseSse(Stream(request, outs));
        ASSERT_GE(chunks.size(), 3u);
        EXPECT_EQ(chunks[0]["choices"][0]["delta"], json::parse(R"({"role": "assistant",
            "content": ""})"));
        EXPECT_EQ(chunks.back()["choices"][0]["delta"], json::object());
        for (size_t i = 0; i + 1 < chunks.size(); ++i) {
          EXPECT_TRUE(chunks[i]["choices"][0]["finish_reason"].is_null());
        }
        const Reassembled r = Reassemble(chunks);
        EXPECT_EQ(r.message, whole["choices"][0]["message"]);
        EXPECT_EQ(r.finish_reason, whole["choices"][0]["finish_reason"]);
        if (logprobs) {
          EXPECT_EQ(r.logprobs, whole["choices"][0]["logprobs"]["content"]);
        } else {
          EXPECT_TRUE(r.logprobs.empty());
        }
      }
    }
  }
}

TEST(OpenAiResponses, ChatLogprobs) {
  const OpenAiRequest request = ChatRequest(R"(, "logprobs": true, "top_logprobs": 2)");
  const std::vector<int32_t> ids = Ids(kReasoningFinal);
  const SequenceResult s = Accumulate(OutputsFor(ids, 2, FinishReason::kStop, 2));
  const json r = BuildChatCompletion(request, Tok(), {&s, 1});
  const json& content = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), ids.size());
  EXPECT_EQ(content[0]["token"], "<|channel|>");
  EXPECT_EQ(content[0]["logprob"], 0.0);
  EXPECT_EQ(content[1]["logprob"], -0.5);
  EXPECT_EQ(content[0]["bytes"].size(), std::string("<|channel|>").size());
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  const std::string bytes_101(Tok().TokenBytes(101));
  EXPECT_EQ(content[0]["top_logprobs"][1],
            json({{"token", TokenText(Tok(), 101)}, {"logprob", -1.0},
                  {"bytes", json::array({int(static_cast<unsigned char>(bytes_101[0]))})}}));
  // The emoji's bytes are split over tokens: "bytes" keeps them exact as integers.
  std::string all_bytes;
  for (const json& e : content) {
    for (const json& b : e["bytes"]) all_bytes.push_back(char(b.get<int>()));
  }
  EXPECT_EQ(all_bytes, *Tok().Decode(ids));
  EXPECT_EQ(JsonLogprob(-std::numeric_limits<float>::infinity()), -9999.0);
}

TEST(OpenAiResponses, ChatStreamUsageAndDone) {
  const OpenAiRequest request = ChatRequest(
      R"(, "stream": true, "stream_options": {"include_usage": true}, "n": 2)");
  std::vector<ChoiceUsage> usage;
  std::string sse;
  for (int i = 0; i < 2; ++i) {
    ChatStreamEncoder encoder(request, Tok(), i);
    for (const RequestOutput& o : OutputsFor(Ids(kReasoningFinal), 4, FinishReason::kStop, -1,
                                             64, 32)) {
      sse += encoder.Push(o);
    }
    usage.push_back(encoder.usage());
  }
  const UsageInfo total = ComputeUsage(request, usage);
  sse += EncodeUsageChunk(request, total) + SseDone();
  bool done = false;
  const std::vector<json> chunks = ParseSse(sse, &done);
  EXPECT_TRUE(done);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_TRUE(chunks[i].contains("usage") && chunks[i]["usage"].is_null());
  }
  EXPECT_EQ(chunks[1]["choices"][0]["index"], 0);
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["index"], 1);
  const json& last = chunks.back();
  EXPECT_EQ(last["choices"], json::array());
  const int64_t out = int64_t(Ids(kReasoningFinal).size());
  EXPECT_EQ(last["usage"]["prompt_tokens"], request.prompts[0].size());
  EXPECT_EQ(last["usage"]["completion_tokens"], 2 * out);
  EXPECT_EQ(last["usage"]["total_tokens"], int64_t(request.prompts[0].size()) + 2 * out);
  EXPECT_EQ(last["usage"]["prompt_tokens_details"]["cached_tokens"], 32);
  EXPECT_EQ(SseDone(), "data: [DONE]\n\n");
  EXPECT_EQ(SseEvent(json{{"a", 1}}), "data: {\"a\":1}\n\n");
}

OpenAiRequest CompletionRequest(const std::string& body) {
  auto r = ParseCompletionRequest(body, TestServerInfo());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.value();
}

// Completion outputs for `ids` with their text, as the engine reports them.
std::vector<RequestOutput> CompletionOutputs(const std::vector<int32_t>& ids, int logprobs,
                                             FinishReason reason) {
  std::vector<RequestOutput> outs = OutputsFor(ids, 1, reason, logprobs, 3);
  for (RequestOutput& o : outs) o.text = *Tok().Decode(o.token_ids);
  return outs;
}

TEST(OpenAiResponses, CompletionNonStreamingAndStreaming) {
  const OpenAiRequest request = CompletionRequest(
      R"({"prompt": "Hello world", "echo": true, "logprobs": 1, "n": 2, "max_tokens": 3})");
  const std::vector<int32_t> out_ids = Tok().Encode(" and more");
  std::vector<RequestOutput> outs = CompletionOutputs(out_ids, 1, FinishReason::kLength);
  SampleResult prompt_lp;
  prompt_lp.token = 2375;
  prompt_lp.logprob = -2.0f;
  outs[0].prompt_logprobs = {prompt_lp};
  const SequenceResult s = Accumulate(outs);
  const std::vector<SequenceResult> both = {s, s};
  const json r = BuildCompletion(request, Tok(), both);
  EXPECT_EQ(r["id"], "cmpl-test");
  EXPECT_EQ(r["object"], "text_completion");
  ASSERT_EQ(r["choices"].size(), 2u);
  const json& c = r["choices"][1];
  EXPECT_EQ(c["index"], 1);
  EXPECT_EQ(c["text"], "Hello world and more");
  EXPECT_EQ(c["finish_reason"], "length");
  const json& lp = c["logprobs"];
  EXPECT_EQ(lp["tokens"], json({"Hello", " world", " and", " more"}));
  EXPECT_EQ(lp["token_logprobs"], json({nullptr, -2.0, 0.0, -0.5}));
  EXPECT_EQ(lp["text_offset"], json({0, 5, 11, 15}));
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(lp["top_logprobs"][2], json({{TokenText(Tok(), 100), 0.0}, {" and", 0.0}}));
  EXPECT_EQ(r["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(r["usage"]["completion_tokens"], 2 * out_ids.size());

  // Streaming: the texts and logprobs concatenate to the non-streaming ones.
  CompletionStreamEncoder encoder(request, Tok(), 1);
  std::string sse;
  for (const RequestOutput& o : outs) sse += encoder.Push(o);
  EXPECT_TRUE(encoder.finished());
  std::string text;
  json tokens = json::array(), offsets = json::array();
  const std::vector<json> chunks = ParseSse(sse);
  for (const json& chunk : chunks) {
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_EQ(chunk["choices"][0]["index"], 1);
    text += chunk["choices"][0]["text"].get<std::string>();
    for (const json& t : chunk["choices"][0]["logprobs"]["tokens"]) tokens.push_back(t);
    for (const json& t : chunk["choices"][0]["logprobs"]["text_offset"]) offsets.push_back(t);
  }
  EXPECT_EQ(text, c["text"].get<std::string>());
  EXPECT_EQ(tokens, lp["tokens"]);
  EXPECT_EQ(offsets, lp["text_offset"]);
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(chunks.front()["choices"][0]["finish_reason"].is_null());
}

TEST(OpenAiResponses, CompletionStopReason) {
  const OpenAiRequest request = CompletionRequest(R"({"prompt": "a", "stop": "x"})");
  std::vector<RequestOutput> outs = CompletionOutputs(Tok().Encode(" b"), -1, FinishReason::kStop);
  outs.back().stop_token.reset();
  outs.back().stop_string = "x";
  const SequenceResult s = Accumulate(outs);
  const json r = BuildCompletion(request, Tok(), {&s, 1});
  EXPECT_EQ(r["choices"][0]["text"], " b");
  EXPECT_EQ(r["choices"][0]["stop_reason"], "x");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
}

TEST(OpenAiResponses, ModelList) {
  const json r = BuildModelList(TestServerInfo(), 123);
  EXPECT_EQ(r, json::parse(R"({"object": "list", "data": [{"id": "gpt-oss-test",
      "object": "model", "created": 123, "owned_by": "atom", "max_model_len": 4096}]})"));
}

TEST(OpenAiResponses, ErrorBodies) {
  EXPECT_EQ(json::parse(ToJson(InvalidRequestError("temperature", "temperature must be a number"))),
            json::parse(R"({"error": {"message": "temperature must be a number",
                "type": "invalid_request_error", "param": "temperature", "code": null}})"));
  const ApiError missing_model = ModelNotFoundError("gpt-4");
  EXPECT_EQ(missing_model.status, 404);
  EXPECT_EQ(json::parse(ToJson(missing_model))["error"]["message"],
            "The model `gpt-4` does not exist.");
  EXPECT_EQ(UnauthorizedError(false).status, 401);
  EXPECT_EQ(PayloadTooLargeError(10, 5).status, 413);
  EXPECT_EQ(TooManyRequestsError("slow down").status, 429);
  EXPECT_EQ(ServiceUnavailableError("busy").status, 503);
  EXPECT_EQ(InternalServerError("oops").status, 500);
  EXPECT_TRUE(json::parse(ToJson(InternalServerError("oops")))["error"]["param"].is_null());
  EXPECT_EQ(ApiErrorFromStatus(ResourceExhausted("queue full")).status, 503);
  EXPECT_EQ(ApiErrorFromStatus(InvalidArgument("top_p must be in (0, 1]")).param, "top_p");
  EXPECT_EQ(ApiErrorFromStatus(InvalidArgument("messages[2].role: bad")).param,
            "messages[2].role");
  EXPECT_EQ(ApiErrorFromStatus(InvalidArgument("the prompt is empty")).param, "");
  EXPECT_EQ(ApiErrorFromStatus(InvalidArgument("stop may hold at most 16")).param, "stop");
  EXPECT_EQ(ApiErrorFromStatus(Internal("x")).status, 500);
  // Invalid UTF-8 in a message never throws.
  EXPECT_NO_THROW(ToJson(InvalidRequestError("x", "bad \xFF bytes")));
}

}  // namespace
}  // namespace atom
