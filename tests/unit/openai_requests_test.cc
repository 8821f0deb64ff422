// The OpenAI request parser: every field, every error (status, param, message naming the field),
// the prompt forms of /v1/completions, /tokenize and /detokenize.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "openai_test_util.h"
#include "server/openai_requests.h"

namespace atom {
namespace {

using testing::TestServerInfo;

const std::vector<int32_t> kExampleA = {
    200006, 17360, 200008, 3575,  553,   17554, 162016, 11,    261,   4410,   6439,
    2359,   22203, 656,    7788,  17527, 558,   87447,  100594, 25,    220,    1323,
    19,     12,    3218,   279,   30377, 289,   25,     14093,  279,   2,      13888,
    18403,  25,    8450,   11,    49159, 11,    1721,   13,     21030, 2804,   413,
    7360,   395,   1753,   3176,  13,    200007, 200006, 1428,   200008, 4827,  382,
    220,    17,    659,    220,   17,    30,    200007, 200006, 173781};

constexpr const char* kUserMessage = R"("messages": [{"role": "user", "content": "What is 2 + 2?"}])";

std::string Chat(const std::string& fields) {
  return std::string("{") + kUserMessage + (fields.empty() ? "" : ", " + fields) + "}";
}

OpenAiRequest ParseChatOk(const std::string& body, const OpenAiServerInfo& info = TestServerInfo()) {
  ApiResult<OpenAiRequest> r = ParseChatCompletionRequest(body, info);
  EXPECT_TRUE(r.ok()) << body << " -> " << (r.ok() ? "" : ToJson(r.error()));
  return r.ok() ? r.value() : OpenAiRequest{};
}

OpenAiRequest ParseCompletionOk(const std::string& body,
                                const OpenAiServerInfo& info = TestServerInfo()) {
  ApiResult<OpenAiRequest> r = ParseCompletionRequest(body, info);
  EXPECT_TRUE(r.ok()) << body << " -> " << (r.ok() ? "" : ToJson(r.error()));
  return r.ok() ? r.value() : OpenAiRequest{};
}

struct ErrorCase {
  std::string body;
  int status;
  std::string param;
  std::string message_part;
};

void ExpectError(const ApiResult<OpenAiRequest>& r, const ErrorCase& c) {
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.error().status, c.status) << c.body;
  EXPECT_EQ(r.error().param, c.param) << c.body << " -> " << r.error().message;
  EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
      << c.body << " -> " << r.error().message;
  if (c.status == 400) {
    EXPECT_EQ(r.error().type, "invalid_request_error");
  }
}

TEST(OpenAiRequests, ChatPromptIsSpecExampleA) {
  const OpenAiRequest r = ParseChatOk(Chat(""));
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0], kExampleA);
  EXPECT_EQ(r.endpoint, OpenAiEndpoint::kChatCompletions);
  EXPECT_EQ(r.id, "chatcmpl-test");
  EXPECT_EQ(r.created, testing::kTestCreated);
  EXPECT_EQ(r.model, "gpt-oss-test");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.has_tools);
  EXPECT_FALSE(r.logprobs());
  EXPECT_FALSE(r.params.max_tokens.has_value());
  EXPECT_EQ(r.num_choices(), 1);
}

TEST(OpenAiRequests, ChatStopTokensIncludeReturnCallAndEos) {
  const OpenAiRequest r = ParseChatOk(Chat(R"("stop_token_ids": [5, 200002])"));
  EXPECT_EQ(r.params.stop_token_ids, (std::vector<int32_t>{5, 200002, 200012, 199999}));
}

TEST(OpenAiRequests, ChatParsesEveryField) {
  const OpenAiRequest r = ParseChatOk(Chat(R"(
      "model": "gpt-oss-test", "stream": true, "stream_options": {"include_usage": true},
      "n": 3, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
      "presence_penalty": 0.5, "frequency_penalty": -0.5, "repetition_penalty": 1.1,
      "logit_bias": {"17": 5, "1000": -100}, "seed": -1, "stop": ["\n\n", "END"],
      "max_tokens": 100, "max_completion_tokens": 50, "min_tokens": 2, "ignore_eos": true,
      "logprobs": true, "top_logprobs": 5, "user": "someone", "response_format": {"type": "text"},
      "include_stop_str_in_output": true, "reasoning_effort": "high",
      "parallel_tool_calls": false, "store": false, "metadata": {"x": 1}, "unknown_extra": [1])"));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  const SamplingParams& p = r.params;
  EXPECT_EQ(p.n, 3);
  EXPECT_EQ(r.num_choices(), 3);
  EXPECT_FLOAT_EQ(p.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(p.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_EQ(p.logit_bias, (std::map<int32_t, float>{{17, 5.0f}, {1000, -100.0f}}));
  EXPECT_EQ(p.seed, ~uint64_t(0));
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(p.max_tokens, 50);  // max_completion_tokens wins
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_TRUE(p.include_stop_str_in_output);
  EXPECT_TRUE(r.logprobs());
  EXPECT_EQ(r.top_logprobs(), 5);
  // reasoning_effort reaches the system message: "Reasoning: high".
  const std::vector<int32_t> high = testing::O200kFromTiktoken().Encode("Reasoning: high");
  EXPECT_NE(std::search(r.prompts[0].begin(), r.prompts[0].end(), high.begin(), high.end()),
            r.prompts[0].end());
}

TEST(OpenAiRequests, ChatSmallFields) {
  EXPECT_EQ(ParseChatOk(Chat(R"("stop": "x")")).params.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(ParseChatOk(Chat(R"("n": 2.0)")).params.n, 2);  // integral floats are integers
  EXPECT_EQ(ParseChatOk(Chat(R"("seed": 42)")).params.seed, 42u);
  EXPECT_EQ(ParseChatOk(Chat(R"("max_tokens": 7)")).params.max_tokens, 7);
  EXPECT_EQ(ParseChatOk(Chat(R"("logprobs": true)")).top_logprobs(), 0);
  EXPECT_FALSE(ParseChatOk(Chat(R"("logprobs": false)")).logprobs());
  // null means "not given".
  const OpenAiRequest nulls = ParseChatOk(Chat(
      R"("temperature": null, "stop": null, "model": null, "stream_options": null, "n": null)"));
  EXPECT_FLOAT_EQ(nulls.params.temperature, 1.0f);
  EXPECT_EQ(nulls.params.n, 1);
}

TEST(OpenAiRequests, ChatTools) {
  const std::string tools =
      R"("tools": [{"type": "function", "function": {"name": "get_weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])";
  const OpenAiRequest with = ParseChatOk(Chat(tools));
  EXPECT_TRUE(with.has_tools);
  const OpenAiRequest none = ParseChatOk(Chat(tools + R"(, "tool_choice": "none")"));
  EXPECT_FALSE(none.has_tools);
  EXPECT_LT(none.prompts[0].size(), with.prompts[0].size());
  EXPECT_TRUE(ParseChatOk(Chat(tools + R"(, "tool_choice": "required")")).has_tools);
}

TEST(OpenAiRequests, ChatErrorsNameTheirField) {
  const std::vector<ErrorCase> cases = {
      {"{", 400, "", "not valid JSON"},
      {"[1]", 400, "", "must be a JSON object"},
      {Chat(R"("model": "gpt-4")"), 404, "model", "The model `gpt-4` does not exist."},
      {Chat(R"("model": 5)"), 400, "model", "model must be a string"},
      {Chat(R"("temperature": "hot")"), 400, "temperature", "temperature must be a number"},
      {Chat(R"("temperature": -1)"), 400, "temperature", "temperature must be finite and >= 0"},
      {Chat(R"("top_p": 1.5)"), 400, "top_p", "top_p must be in (0, 1]"},
      {Chat(R"("top_k": 0.5)"), 400, "top_k", "top_k must be an integer"},
      {Chat(R"("min_p": 2)"), 400, "min_p", "min_p"},
      {Chat(R"("presence_penalty": 3)"), 400, "presence_penalty", "presence_penalty"},
      {Chat(R"("frequency_penalty": "x")"), 400, "frequency_penalty", "must be a number"},
      {Chat(R"("repetition_penalty": 0)"), 400, "repetition_penalty", "repetition_penalty"},
      {Chat(R"("n": 0)"), 400, "n", "n must be an integer between 1 and 128"},
      {Chat(R"("n": 1.5)"), 400, "n", "n must be an integer"},
      {Chat(R"("seed": "x")"), 400, "seed", "seed must be an integer"},
      {Chat(R"("stream": "yes")"), 400, "stream", "stream must be a boolean"},
      {Chat(R"("stream_options": {"include_usage": true})"), 400, "stream_options",
       "only allowed when stream is true"},
      {Chat(R"("stream": true, "stream_options": 3)"), 400, "stream_options", "must be an object"},
      {Chat(R"("stream": true, "stream_options": {"include_usage": 1})"), 400,
       "stream_options.include_usage", "must be a boolean"},
      {Chat(R"("stop": 5)"), 400, "stop", "stop must be a string or an array of strings"},
      {Chat(R"("stop": ["a", 1])"), 400, "stop", "stop[1] must be a string"},
      {Chat(R"("stop": [""])"), 400, "stop[0]", "stop[0] must not be empty"},
      {Chat(R"("logit_bias": [1])"), 400, "logit_bias", "logit_bias must be an object"},
      {Chat(R"("logit_bias": {"abc": 1})"), 400, "logit_bias", "key \"abc\" is not a token id"},
      {Chat(R"("logit_bias": {"1": "x"})"), 400, "logit_bias", "must be a number"},
      {Chat(R"("logit_bias": {"1": 500})"), 400, "logit_bias", "must be in [-100, 100]"},
      {Chat(R"("logit_bias": {"999999": 1})"), 400, "logit_bias", "outside the vocabulary"},
      {Chat(R"("stop_token_ids": [-1])"), 400, "stop_token_ids", "stop_token_ids[0]"},
      {Chat(R"("max_tokens": 0)"), 400, "max_tokens", "max_tokens must be >= 1"},
      {Chat(R"("max_completion_tokens": 0)"), 400, "max_completion_tokens",
       "max_completion_tokens must be an integer between 1"},
      {Chat(R"("max_tokens": 5000)"), 400, "max_tokens", "max_tokens is too large: 5000"},
      {Chat(R"("max_completion_tokens": 5000)"), 400, "max_completion_tokens",
       "max_completion_tokens is too large"},
      {Chat(R"("min_tokens": 5, "max_tokens": 2)"), 400, "min_tokens", "min_tokens (5)"},
      {Chat(R"("ignore_eos": 1)"), 400, "ignore_eos", "ignore_eos must be a boolean"},
      {Chat(R"("logprobs": 1)"), 400, "logprobs", "logprobs must be a boolean"},
      {Chat(R"("logprobs": true, "top_logprobs": 21)"), 400, "top_logprobs",
       "top_logprobs must be an integer between 0 and 20"},
      {Chat(R"("top_logprobs": 2)"), 400, "top_logprobs", "requires logprobs to be true"},
      {Chat(R"("response_format": {"type": "json_object"})"), 400, "response_format.type",
       "\"json_object\" is not supported"},
      {Chat(R"("response_format": "json")"), 400, "response_format.type", "must be a string"},
      {Chat(R"("reasoning_effort": "max")"), 400, "reasoning_effort", "reasoning_effort"},
      {Chat(R"("tool_choice": "required")"), 400, "tool_choice", "has no tools"},
      {R"({"model": "gpt-oss-test"})", 400, "messages", "messages: required"},
      {R"({"messages": []})", 400, "messages", "must not be empty"},
      {R"({"messages": [{"role": "robot", "content": "x"}]})", 400, "messages[0].role",
       "unknown role"},
  };
  for (const ErrorCase& c : cases) {
    ExpectError(ParseChatCompletionRequest(c.body, TestServerInfo()), c);
  }
}

TEST(OpenAiRequests, ChatPromptLongerThanContextIs400) {
  ExpectError(ParseChatCompletionRequest(Chat(""), TestServerInfo(/*max_model_len=*/64)),
              {"", 400, "messages", "maximum context length is 64 tokens"});
  // 64 prompt tokens + 1 fits 65.
  EXPECT_EQ(ParseChatOk(Chat(R"("max_tokens": 1)"), TestServerInfo(65)).params.max_tokens, 1);
  ExpectError(ParseChatCompletionRequest(Chat(R"("max_tokens": 2)"), TestServerInfo(65)),
              {"", 400, "max_tokens", "(2 > 1)"});
}

TEST(OpenAiRequests, CompletionPromptForms) {
  const Tokenizer& tok = testing::O200kFromTiktoken();
  const OpenAiRequest s = ParseCompletionOk(R"({"prompt": "Hello world"})");
  ASSERT_EQ(s.prompts.size(), 1u);
  EXPECT_EQ(s.prompts[0], tok.Encode("Hello world"));
  EXPECT_EQ(s.endpoint, OpenAiEndpoint::kCompletions);
  EXPECT_EQ(s.id, "cmpl-test");
  EXPECT_EQ(s.params.max_tokens, 16);  // the legacy default
  EXPECT_TRUE(s.params.stop_token_ids.empty());

  const OpenAiRequest list = ParseCompletionOk(R"({"prompt": ["a", "b c"], "n": 2})");
  ASSERT_EQ(list.prompts.size(), 2u);
  EXPECT_EQ(list.prompts[1], tok.Encode("b c"));
  EXPECT_EQ(list.num_choices(), 4);

  const OpenAiRequest ids = ParseCompletionOk(R"({"prompt": [9906, 1917]})");
  EXPECT_EQ(ids.prompts, (std::vector<std::vector<int32_t>>{{9906, 1917}}));

  const OpenAiRequest lists = ParseCompletionOk(R"({"prompt": [[1, 2], [3]]})");
  EXPECT_EQ(lists.prompts, (std::vector<std::vector<int32_t>>{{1, 2}, {3}}));

  // Special tokens in a completions prompt are recognised (a raw Harmony prompt works).
  const OpenAiRequest special = ParseCompletionOk(R"({"prompt": "<|start|>user"})");
  EXPECT_EQ(special.prompts[0], (std::vector<int32_t>{200006, 1428}));
}

TEST(OpenAiRequests, CompletionFields) {
  const OpenAiRequest r = ParseCompletionOk(
      R"({"prompt": [1, 2, 3], "echo": true, "logprobs": 3, "best_of": 2, "n": 2,
          "max_tokens": 8, "temperature": 0, "stream": true, "skip_special_tokens": false,
          "stop": "x", "suffix": null})");
  EXPECT_TRUE(r.echo);
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.top_logprobs(), 3);
  EXPECT_EQ(r.params.prompt_logprobs, 3);
  EXPECT_EQ(r.params.max_tokens, 8);
  EXPECT_EQ(r.params.n, 2);
  EXPECT_FALSE(r.params.skip_special_tokens);
  ASSERT_EQ(r.prompt_texts.size(), 1u);
  EXPECT_EQ(r.prompt_texts[0], *testing::O200kFromTiktoken().Decode(r.prompts[0]));
  // Without echo no prompt logprobs are asked for.
  EXPECT_FALSE(ParseCompletionOk(R"({"prompt": "a", "logprobs": 0})").params.prompt_logprobs);
  // The default max_tokens shrinks to fit the context.
  EXPECT_EQ(ParseCompletionOk(R"({"prompt": [1, 2, 3]})", TestServerInfo(10)).params.max_tokens,
            7);
}

TEST(OpenAiRequests, CompletionErrorsNameTheirField) {
  const std::vector<ErrorCase> cases = {
      {R"({})", 400, "prompt", "prompt is required"},
      {R"({"prompt": 5})", 400, "prompt", "prompt must be a string, an array of strings"},
      {R"({"prompt": ""})", 400, "prompt", "prompt must not be empty"},
      {R"({"prompt": []})", 400, "prompt", "prompt must not be empty"},
      {R"({"prompt": ["a", ""]})", 400, "prompt", "prompt[1] must not be empty"},
      {R"({"prompt": ["a", 1]})", 400, "prompt", "prompt must be a string, an array"},
      {R"({"prompt": [1, "a"]})", 400, "prompt", "prompt[1] must be a token id"},
      {R"({"prompt": [[1], []]})", 400, "prompt", "prompt[1] must not be empty"},
      {R"({"prompt": [[1], 2]})", 400, "prompt", "prompt must be a string, an array"},
      {R"({"prompt": [1, 201088]})", 400, "prompt", "prompt[1]: token id 201088 is outside"},
      {R"({"prompt": [-1]})", 400, "prompt", "outside the vocabulary"},
      {R"({"prompt": "a", "suffix": "b"})", 400, "suffix", "suffix is not supported"},
      {R"({"prompt": "a", "best_of": 2})", 400, "best_of", "best_of must equal n (1)"},
      {R"({"prompt": "a", "logprobs": 6})", 400, "logprobs",
       "logprobs must be an integer between 0 and 5"},
      {R"({"prompt": "a", "logprobs": true})", 400, "logprobs", "logprobs must be an integer"},
      {R"({"prompt": "a", "echo": "yes"})", 400, "echo", "echo must be a boolean"},
      {R"({"prompt": "a", "model": "other"})", 404, "model", "The model `other` does not exist."},
      {R"({"prompt": "a", "temperature": "x"})", 400, "temperature", "must be a number"},
      {R"({"prompt": [1, 2, 3], "max_tokens": 8})", 400, "max_tokens", "too large"},
      {R"({"prompt": [[1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]})", 400, "prompt[1]",
       "prompt[1]: this model's maximum context length is 10 tokens"},
  };
  for (const ErrorCase& c : cases) {
    ExpectError(ParseCompletionRequest(c.body, TestServerInfo(10)), c);
  }
}

TEST(OpenAiRequests, Tokenize) {
  const OpenAiServerInfo info = TestServerInfo();
  auto r = HandleTokenize(R"({"model": "gpt-oss-test", "prompt": "Hello world"})", info);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value()["tokens"], nlohmann::json({13225, 2375}));
  EXPECT_EQ(r.value()["count"], 2);
  EXPECT_EQ(r.value()["max_model_len"], 4096);
  EXPECT_FALSE(r.value().contains("token_strs"));

  auto strs = HandleTokenize(R"({"prompt": "Hello world", "return_token_strs": true})", info);
  ASSERT_TRUE(strs.ok());
  EXPECT_EQ(strs.value()["token_strs"], nlohmann::json({"Hello", " world"}));

  auto chat = HandleTokenize(Chat(""), info);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat.value()["tokens"].get<std::vector<int32_t>>(), kExampleA);
  EXPECT_EQ(chat.value()["count"], 64);

  auto missing = HandleTokenize(R"({"model": "gpt-oss-test"})", info);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().param, "prompt");
  auto wrong_model = HandleTokenize(R"({"model": "x", "prompt": "a"})", info);
  ASSERT_FALSE(wrong_model.ok());
  EXPECT_EQ(wrong_model.error().status, 404);
  auto bad_type = HandleTokenize(R"({"prompt": 5})", info);
  ASSERT_FALSE(bad_type.ok());
  EXPECT_EQ(bad_type.error().message, "prompt must be a string");
}

TEST(OpenAiRequests, Detokenize) {
  const OpenAiServerInfo info = TestServerInfo();
  auto r = HandleDetokenize(R"({"tokens": [13225, 2375]})", info);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), nlohmann::json({{"prompt", "Hello world"}}));
  // A token that ends inside a character: replaced, never invalid UTF-8.
  const int32_t first_emoji_token = info.tokenizer->Encode("\xF0\x9F\xA6\x80x")[0];
  ASSERT_LT(info.tokenizer->TokenBytes(first_emoji_token).size(), 4u);
  auto partial = HandleDetokenize(
      "{\"tokens\": [" + std::to_string(first_emoji_token) + "]}", info);
  ASSERT_TRUE(partial.ok());
  EXPECT_NE(partial.value()["prompt"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);

  const std::vector<ErrorCase> cases = {
      {R"({})", 400, "tokens", "tokens is required"},
      {R"({"tokens": "abc"})", 400, "tokens", "tokens must be an array"},
      {R"({"tokens": [1, "a"]})", 400, "tokens", "tokens[1] must be a token id"},
      {R"({"tokens": [300000]})", 400, "tokens", "tokens[0]: token id 300000 is outside"},
  };
  for (const ErrorCase& c : cases) {
    auto e = HandleDetokenize(c.body, info);
    ASSERT_FALSE(e.ok()) << c.body;
    EXPECT_EQ(e.error().param, c.param) << c.body;
    EXPECT_NE(e.error().message.find(c.message_part), std::string::npos) << e.error().message;
  }
}

}  // namespace
}  // namespace atom
