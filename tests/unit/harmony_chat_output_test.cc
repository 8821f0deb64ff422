// HarmonyChatOutput: completions mapped to chat-completions reasoning / content / tool calls /
// finish reason, streamed token by token and as a whole (ParseChatOutput).
#include "tokenizer/harmony_chat_output.h"

#include <algorithm>
#include <cctype>

#include <gtest/gtest.h>

#include "harmony_parser_test_util.h"

namespace atom {
namespace {

using namespace harmony_test;  // NOLINT

HarmonyChatOutput::Options Deterministic() {
  HarmonyChatOutput::Options o;
  o.make_tool_call_id = SequentialToolCallIds();
  return o;
}

struct Streamed {
  ChatOutput output;  // with finish_reason
  std::vector<ChatDelta> deltas;
};

// Streams `ids` one token at a time through a parser and a HarmonyChatOutput; checks that the
// deltas add up to the output and that ParseChatOutput gives the same.
Streamed Stream(std::string_view text, std::string_view caller_reason = "stop") {
  const Tokenizer& tok = *O200k();
  std::vector<int32_t> ids = tok.EncodeWithSpecial(text);
  HarmonyParser parser(tok);
  HarmonyChatOutput chat(Deterministic());
  Streamed s;
  for (int32_t id : ids) {
    std::vector<HarmonyEvent> events;
    parser.Push(id, &events).ok();
    chat.Consume(events, &s.deltas);
  }
  std::vector<HarmonyEvent> events;
  parser.Finish(&events).ok();
  chat.Consume(events, &s.deltas);
  s.output = chat.output();
  s.output.finish_reason = chat.FinishReason(caller_reason);

  ChatOutput whole = ParseChatOutput(tok, ids, caller_reason, Deterministic());
  EXPECT_EQ(whole.reasoning, s.output.reasoning);
  EXPECT_EQ(whole.content, s.output.content);
  EXPECT_EQ(whole.finish_reason, s.output.finish_reason);
  EXPECT_EQ(whole.tool_calls.size(), s.output.tool_calls.size());
  EXPECT_EQ(whole.builtin_tool_calls.size(), s.output.builtin_tool_calls.size());

  std::string reasoning, content;
  std::vector<ChatToolCall> calls;
  size_t builtins = 0;
  for (const ChatDelta& d : s.deltas) {
    switch (d.kind) {
      case ChatDeltaKind::kReasoning: reasoning += d.text; break;
      case ChatDeltaKind::kContent: content += d.text; break;
      case ChatDeltaKind::kToolCallStart:
        EXPECT_EQ(d.index, calls.size());
        calls.push_back({d.id, d.name, ""});
        break;
      case ChatDeltaKind::kToolCallArguments:
        EXPECT_LT(d.index, calls.size());
        if (d.index < calls.size()) calls[d.index].arguments += d.text;
        break;
      case ChatDeltaKind::kBuiltinToolCall:
        EXPECT_EQ(d.index, builtins++);
        break;
    }
  }
  EXPECT_EQ(reasoning, s.output.reasoning);
  EXPECT_EQ(content, s.output.content);
  EXPECT_EQ(builtins, s.output.builtin_tool_calls.size());
  EXPECT_EQ(calls.size(), s.output.tool_calls.size());
  for (size_t i = 0; i < calls.size() && i < s.output.tool_calls.size(); ++i) {
    EXPECT_EQ(calls[i].id, s.output.tool_calls[i].id);
    EXPECT_EQ(calls[i].name, s.output.tool_calls[i].name);
    EXPECT_EQ(calls[i].arguments, s.output.tool_calls[i].arguments);
    EXPECT_EQ(whole.tool_calls[i].arguments, s.output.tool_calls[i].arguments);
  }
  return s;
}

class HarmonyChatOutputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(O200k(), nullptr) << O200kError(); }
};

TEST_F(HarmonyChatOutputTest, ReasoningAndFinalAnswer) {  // spec §6.10 Example A
  Streamed s = Stream(
      "<|channel|>analysis<|message|>User asks: \"What is 2 + 2?\" Simple arithmetic. Provide "
      "answer.<|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>");
  EXPECT_EQ(s.output.reasoning, "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.");
  EXPECT_EQ(s.output.content, "2 + 2 = 4.");
  EXPECT_TRUE(s.output.tool_calls.empty());
  EXPECT_EQ(s.output.finish_reason, "stop");
  ASSERT_FALSE(s.deltas.empty());
  EXPECT_EQ(s.deltas.front().kind, ChatDeltaKind::kReasoning);
  EXPECT_EQ(s.deltas.back().kind, ChatDeltaKind::kContent);
  EXPECT_EQ(Stream("<|channel|>final<|message|>2 + 2", "length").output.finish_reason, "length");
}

TEST_F(HarmonyChatOutputTest, FunctionToolCall) {  // spec §6.8
  Streamed s = Stream(
      "<|channel|>analysis<|message|>Need to use function get_weather.<|end|><|start|>assistant"
      "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
      "{\"location\":\"San Francisco\"}<|call|>");
  EXPECT_EQ(s.output.reasoning, "Need to use function get_weather.");
  EXPECT_EQ(s.output.content, "");
  ASSERT_EQ(s.output.tool_calls.size(), 1u);
  EXPECT_EQ(s.output.tool_calls[0].id, "call_0");
  EXPECT_EQ(s.output.tool_calls[0].name, "get_weather");
  EXPECT_EQ(s.output.tool_calls[0].arguments, "{\"location\":\"San Francisco\"}");
  EXPECT_EQ(s.output.finish_reason, "tool_calls");
  // The stream: reasoning, then the call's start with id and name, then its arguments.
  auto start = std::find_if(s.deltas.begin(), s.deltas.end(), [](const ChatDelta& d) {
    return d.kind == ChatDeltaKind::kToolCallStart;
  });
  ASSERT_NE(start, s.deltas.end());
  EXPECT_EQ(start->id, "call_0");
  EXPECT_EQ(start->name, "get_weather");
  for (auto it = start + 1; it != s.deltas.end(); ++it) {
    EXPECT_EQ(it->kind, ChatDeltaKind::kToolCallArguments);
  }
  EXPECT_GT(s.deltas.end() - start, 2);  // the arguments arrive in several pieces

  // The renderer's placement (recipient before the channel) and the HF template's "json".
  s = Stream(" to=functions.get_weather<|channel|>commentary json<|message|>{}<|call|>");
  ASSERT_EQ(s.output.tool_calls.size(), 1u);
  EXPECT_EQ(s.output.tool_calls[0].name, "get_weather");
  EXPECT_EQ(s.output.tool_calls[0].arguments, "{}");
  EXPECT_EQ(s.output.finish_reason, "tool_calls");
}

TEST_F(HarmonyChatOutputTest, FinishReasonOfToolCalls) {
  const std::string call =
      "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\": 1}";
  EXPECT_EQ(Stream(call + "<|call|>").output.finish_reason, "tool_calls");
  // <|end|> instead of <|call|>: still a call when the model stopped by itself.
  EXPECT_EQ(Stream(call + "<|end|>").output.finish_reason, "tool_calls");
  EXPECT_EQ(Stream(call + "<|endoftext|>").output.finish_reason, "tool_calls");
  // Cut off by the length limit: the arguments are incomplete.
  Streamed cut = Stream(call, "length");
  EXPECT_EQ(cut.output.finish_reason, "length");
  EXPECT_EQ(cut.output.tool_calls.size(), 1u);
  // A final answer after a call: the answer is what counts.
  EXPECT_EQ(Stream(call + "<|end|><|start|>assistant<|channel|>final<|message|>ok<|return|>")
                .output.finish_reason,
            "stop");
}

TEST_F(HarmonyChatOutputTest, BuiltinToolCallsAreNotFunctionCalls) {
  Streamed s = Stream(Fixture("test_streamable_parser.txt"));
  EXPECT_TRUE(s.output.tool_calls.empty());
  ASSERT_EQ(s.output.builtin_tool_calls.size(), 1u);
  const ChatBuiltinToolCall& b = s.output.builtin_tool_calls[0];
  EXPECT_EQ(b.recipient, "browser.search");
  EXPECT_EQ(b.channel, "commentary");
  EXPECT_EQ(b.content_type, "code");
  EXPECT_EQ(b.input, "{\"query\": \"current US president July 2025\", \"topn\": 10, "
                     "\"source\": \"news\"}");
  // The tool's own message (author browser.search) is not assistant output.
  EXPECT_EQ(s.output.content, "");
  EXPECT_TRUE(s.output.reasoning.ends_with("Let's browse to confirm."));
  EXPECT_EQ(s.output.finish_reason, "stop");
  auto builtin = std::find_if(s.deltas.begin(), s.deltas.end(), [](const ChatDelta& d) {
    return d.kind == ChatDeltaKind::kBuiltinToolCall;
  });
  ASSERT_NE(builtin, s.deltas.end());
  EXPECT_EQ(builtin->name, "browser.search");
  EXPECT_EQ(builtin->text, b.input);

  s = Stream("<|channel|>analysis to=python code<|message|>print(1)<|call|>");
  ASSERT_EQ(s.output.builtin_tool_calls.size(), 1u);
  EXPECT_EQ(s.output.builtin_tool_calls[0].recipient, "python");
  EXPECT_EQ(s.output.finish_reason, "stop");
}

TEST_F(HarmonyChatOutputTest, ChannelsWithoutRecipient) {
  // Commentary without a recipient is a user-visible preamble.
  Streamed s = Stream(
      "<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant<|channel|>commentary"
      " to=functions.lookup <|constrain|>json<|message|>{}<|call|>");
  EXPECT_EQ(s.output.content, "Let me check.");
  EXPECT_EQ(s.output.tool_calls.size(), 1u);
  // No channel: content. Unknown channel: reasoning.
  s = Stream("<|message|>plain<|end|><|start|>assistant<|channel|>secret<|message|>hidden<|end|>");
  EXPECT_EQ(s.output.content, "plain");
  EXPECT_EQ(s.output.reasoning, "hidden");
  // A model that writes no header at all.
  s = Stream("Just text.", "length");
  EXPECT_EQ(s.output.content, "Just text.");
  EXPECT_EQ(s.output.finish_reason, "length");
  // "to=all" and "to=user" are nobody in particular.
  s = Stream("<|channel|>final to=all<|message|>hi<|return|>");
  EXPECT_EQ(s.output.content, "hi");
  EXPECT_TRUE(s.output.tool_calls.empty());
}

TEST_F(HarmonyChatOutputTest, RecipientWithoutNamespaceIsAFunctionCall) {
  // harmony's test_simple_tool_call: "to=lookup_weather" on the analysis channel.
  std::vector<int32_t> ids = FixtureIds("test_simple_tool_call.txt");
  ChatOutput out = ParseChatOutput(*O200k(), ids, "stop", Deterministic());
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0].name, "lookup_weather");
  EXPECT_EQ(out.tool_calls[0].arguments, "{\"location\": \"Tokyo\"}");
  EXPECT_EQ(out.reasoning,
            "User asks: \"What is the weather in Tokyo?\" We need to use lookup_weather tool.");
  EXPECT_EQ(out.finish_reason, "stop");  // the fixture ends without <|call|>
}

TEST_F(HarmonyChatOutputTest, SeveralCallsAndToolCallIds) {
  Streamed s = Stream(
      "<|channel|>commentary to=functions.a <|constrain|>json<|message|>{\"x\":1}<|end|>"
      "<|start|>assistant<|channel|>commentary to=functions.b <|constrain|>json<|message|>{}"
      "<|call|>");
  ASSERT_EQ(s.output.tool_calls.size(), 2u);
  EXPECT_EQ(s.output.tool_calls[0].id, "call_0");
  EXPECT_EQ(s.output.tool_calls[0].name, "a");
  EXPECT_EQ(s.output.tool_calls[1].id, "call_1");
  EXPECT_EQ(s.output.tool_calls[1].name, "b");
  EXPECT_EQ(s.output.finish_reason, "tool_calls");

  auto random = RandomToolCallIds();
  std::string a = random(), b = random();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 5u + 24u);
  EXPECT_TRUE(a.starts_with("call_"));
  for (char c : a.substr(5)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << a;
  auto seq = SequentialToolCallIds("id-");
  EXPECT_EQ(seq(), "id-0");
  EXPECT_EQ(seq(), "id-1");
}

TEST_F(HarmonyChatOutputTest, EmojiInContentStreamsWhole) {
  Streamed s = Stream("<|channel|>final<|message|>Chicken 🐔 and 💖!<|return|>");
  EXPECT_EQ(s.output.content, "Chicken 🐔 and 💖!");
  for (const ChatDelta& d : s.deltas) EXPECT_EQ(Utf8Sanitize(d.text), d.text);
}

}  // namespace
}  // namespace atom
