// OpenAI chat-completions request -> Harmony conversation: rendered prompts against the
// harmony fixtures and spec §6.8/§6.10 Example C, the multi-turn reasoning rule, and every
// error path.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/harmony_render.h"
#include "tokenizer/openai_chat.h"

namespace atom {
namespace {

using Json = nlohmann::ordered_json;

std::string Fixture(const std::string& name) {
  std::ifstream in(testing::DataDir() + "/harmony/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && std::string_view(" \t\r\n\v\f").find(text.back()) != std::string::npos) {
    text.pop_back();
  }
  return text;
}

// The prompt text for `request`, or the error message prefixed with "ERROR: ".
std::string Prompt(const std::string& request, const OpenAiChatOptions& options = {}) {
  auto conversation = OpenAiChatTextToConversation(request, options);
  if (!conversation.ok()) return "ERROR: " + conversation.status().message();
  RenderOptions render;
  render.auto_drop_analysis = options.drop_past_reasoning;
  auto prompt = RenderConversationForCompletion(*conversation, HarmonyRole::kAssistant, render);
  if (!prompt.ok()) return "ERROR: " + prompt.status().message();
  return prompt->Text();
}

std::string DefaultSystem() { return RenderMessage(SystemContent{}).value().Text(); }

constexpr const char* kWeatherTools = R"([
  {"type": "function", "function": {"name": "get_location",
                                    "description": "Gets the location of the user."}},
  {"type": "function", "function": {
    "name": "get_current_weather",
    "description": "Gets the current weather in the provided location.",
    "parameters": {"type": "object",
                   "properties": {
                     "location": {"type": "string",
                                  "description": "The city and state, e.g. San Francisco, CA"},
                     "format": {"type": "string", "enum": ["celsius", "fahrenheit"],
                                "default": "celsius"}},
                   "required": ["location"]}}}])";

TEST(OpenAiChat, MinimalRequestIsTheSimpleConvoFixture) {
  EXPECT_EQ(Prompt(R"({"model": "gpt-oss", "temperature": 1,
                       "messages": [{"role": "user", "content": "What is 2 + 2?"}]})"),
            Fixture("test_simple_convo.txt"));
}

TEST(OpenAiChat, SystemMessageBecomesDeveloperInstructions) {
  EXPECT_EQ(Prompt(R"({"reasoning_effort": "low", "messages": [
                {"role": "system", "content": "Answer the user's questions like a robot."},
                {"role": "user",
                 "content": "What is the capital of the largest country in the world?"}]})"),
            Fixture("test_simple_convo_low_effort.txt"));
  EXPECT_EQ(Prompt(R"({"reasoning_effort": "high", "messages": [
                {"role": "developer", "content": "Answer the user's questions like a robot."},
                {"role": "user",
                 "content": "What is the capital of the largest country in the world?"}]})"),
            Fixture("test_simple_convo_high_effort.txt"));
}

TEST(OpenAiChat, ToolsRenderLikeTheFunctionsFixture) {
  Json request = Json::parse(kWeatherTools);
  Json tools = Json::parse(R"([
    {"type": "function", "function": {
      "name": "get_multiple_weathers",
      "description": "Gets the current weather in the provided list of locations.",
      "parameters": {"type": "object",
        "properties": {
          "locations": {"type": "array", "items": {"type": "string"},
            "description":
              "List of city and state, e.g. [\"San Francisco, CA\", \"New York, NY\"]"},
          "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"}},
        "required": ["locations"]}}},
    {"type": "function", "function": {
      "name": "kitchensink", "description": "A function with various complex schemas.",
      "parameters": {"description": "params object", "type": "object",
        "properties": {
          "string": {"type": "string", "title": "STRING", "description": "A string",
                     "examples": ["hello", "world"]},
          "string_nullable": {"type": "string", "nullable": true,
                              "description": "A nullable string", "default": "the default"},
          "string_enum": {"type": "string", "enum": ["a", "b", "c"]},
          "oneof_string_or_number": {
            "oneOf": [{"type": "string", "default": "default_string_in_oneof"},
                      {"type": "number", "description": "numbers can happen too"}],
            "description": "a oneof", "default": 20}}}}}])");
  for (auto& t : tools) request.push_back(t);
  Json full = {{"reasoning_effort", "high"},
               {"conversation_start_date", "2025-06-28"},
               {"tools", request},
               {"messages", Json::parse(R"([
                  {"role": "system", "content": "Always respond in riddles"},
                  {"role": "user", "content": "What is the weather like in SF?"}])")}};
  EXPECT_EQ(Prompt(full.dump()), Fixture("test_render_functions_with_parameters.txt"));
}

TEST(OpenAiChat, BuiltinBrowserToolInTheSystemMessage) {
  std::string expected = Fixture("test_browser_tool_only.txt");
  ASSERT_TRUE(expected.ends_with("<|start|>assistant"));
  expected.resize(expected.size() - std::string("<|start|>assistant").size());
  expected += "<|start|>user<|message|>hi<|end|><|start|>assistant";
  OpenAiChatOptions options;
  options.conversation_start_date = "2025-06-28";
  EXPECT_EQ(Prompt(R"({"builtin_tools": ["browser"],
                       "messages": [{"role": "user", "content": "hi"}]})",
                   options),
            expected);
}

// Spec §6.8 / §6.10 Example C, with the stored call re-rendered recipient-first as harmony does.
TEST(OpenAiChat, ToolCallRoundTripIsSpecExampleC) {
  Json request = {
      {"reasoning_effort", "high"},
      {"conversation_start_date", "2025-06-28"},
      {"tools", Json::parse(kWeatherTools)},
      {"messages", Json::parse(R"([
         {"role": "system", "content": "Use a friendly tone."},
         {"role": "user", "content": "What is the weather like in SF?"},
         {"role": "assistant", "content": null,
          "reasoning_content": "Need to use function get_weather.",
          "tool_calls": [{"id": "call_1", "type": "function",
                          "function": {"name": "get_weather",
                                       "arguments": "{\"location\":\"San Francisco\"}"}}]},
         {"role": "tool", "tool_call_id": "call_1",
          "content": "{\"sunny\": true, \"temperature\": 20}"}])")}};
  EXPECT_EQ(Prompt(request.dump()),
            "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
            "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-06-28\n\nReasoning: high\n\n"
            "# Valid channels: analysis, commentary, final. Channel must be included for every "
            "message.\nCalls to these tools must go to the commentary channel: 'functions'."
            "<|end|><|start|>developer<|message|># Instructions\n\nUse a friendly tone.\n\n"
            "# Tools\n\n## functions\n\nnamespace functions {\n\n"
            "// Gets the location of the user.\ntype get_location = () => any;\n\n"
            "// Gets the current weather in the provided location.\n"
            "type get_current_weather = (_: {\n"
            "// The city and state, e.g. San Francisco, CA\nlocation: string,\n"
            "format?: \"celsius\" | \"fahrenheit\", // default: celsius\n}) => any;\n\n"
            "} // namespace functions<|end|>"
            "<|start|>user<|message|>What is the weather like in SF?<|end|>"
            "<|start|>assistant<|channel|>analysis<|message|>Need to use function get_weather."
            "<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary "
            "<|constrain|>json<|message|>{\"location\":\"San Francisco\"}<|call|>"
            "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
            "{\"sunny\": true, \"temperature\": 20}<|end|><|start|>assistant");
}

TEST(OpenAiChat, ReasoningOfAnsweredTurnsIsDropped) {
  // Like harmony's test_dropping_cot_by_default, after the default system message.
  EXPECT_EQ(Prompt(R"({"messages": [
                {"role": "user", "content": "What is 2 + 2?"},
                {"role": "assistant", "content": "2 + 2 equals 4.",
                 "reasoning_content": "User asks: \u201cWhat is 2 + 2?\u201d Simple arithmetic."},
                {"role": "user", "content": "What about 9 / 2?"}]})"),
            DefaultSystem() + Fixture("test_dropping_cot_by_default.txt"));
}

TEST(OpenAiChat, ReasoningIsKeptDuringAToolChainAndDroppedOnceAnswered) {
  const std::string chain = R"(
      {"role": "user", "content": "Weather in SF?"},
      {"role": "assistant", "reasoning": "Need the weather tool.",
       "tool_calls": [{"id": "c1", "function": {"name": "lookup_weather",
                                                "arguments": {"location": "SF"}}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "sunny"})";
  const std::string pending = Prompt(R"({"messages": [)" + chain + "]}");
  EXPECT_TRUE(pending.ends_with(
      "<|start|>user<|message|>Weather in SF?<|end|>"
      "<|start|>assistant<|channel|>analysis<|message|>Need the weather tool.<|end|>"
      "<|start|>assistant to=functions.lookup_weather<|channel|>commentary <|constrain|>json"
      "<|message|>{\"location\":\"SF\"}<|call|>"
      "<|start|>functions.lookup_weather to=assistant<|channel|>commentary<|message|>sunny"
      "<|end|><|start|>assistant"))
      << pending;
  // A later user message without a final answer: the chain is still open, keep it.
  EXPECT_NE(Prompt(R"({"messages": [)" + chain + R"(, {"role": "user", "content": "And?"}]})")
                .find("Need the weather tool."),
            std::string::npos);
  const std::string answered = Prompt(R"({"messages": [)" + chain + R"(,
      {"role": "assistant", "content": "It is sunny.", "reasoning_content": "Tool says sunny."},
      {"role": "user", "content": "Thanks!"}]})");
  EXPECT_EQ(answered.find("Need the weather tool."), std::string::npos) << answered;
  EXPECT_EQ(answered.find("Tool says sunny."), std::string::npos) << answered;
  EXPECT_NE(answered.find("<|channel|>final<|message|>It is sunny.<|end|>"), std::string::npos);
  // Unless the caller keeps every reasoning.
  OpenAiChatOptions keep;
  keep.drop_past_reasoning = false;
  const std::string kept = Prompt(R"({"messages": [)" + chain + R"(,
      {"role": "assistant", "content": "It is sunny.", "reasoning_content": "Tool says sunny."},
      {"role": "user", "content": "Thanks!"}]})",
                                  keep);
  EXPECT_NE(kept.find("Need the weather tool."), std::string::npos) << kept;
  EXPECT_NE(kept.find("Tool says sunny."), std::string::npos) << kept;
}

TEST(OpenAiChat, ContentPartsPreamblesAndSeveralInstructions) {
  const std::string prompt = Prompt(R"({"tools": [{"type": "function",
                                                   "function": {"name": "f"}}],
      "messages": [
        {"role": "system", "content": "A."},
        {"role": "user", "content": [{"type": "text", "text": "one"},
                                     {"type": "text", "text": "two"}]},
        {"role": "developer", "content": [{"type": "text", "text": "B."}]},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [{"id": "x", "type": "function",
                         "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "name": "f", "content": [{"type": "text", "text": "42"}]}]})");
  EXPECT_NE(prompt.find("<|start|>developer<|message|># Instructions\n\nA.\n\nB.\n\n# Tools"),
            std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("<|start|>user<|message|>one\ntwo<|end|>"), std::string::npos);
  EXPECT_NE(prompt.find("<|start|>assistant<|channel|>commentary<|message|>Let me check.<|end|>"
                        "<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json"
                        "<|message|>{}<|call|><|start|>functions.f to=assistant<|channel|>"
                        "commentary<|message|>42<|end|>"),
            std::string::npos)
      << prompt;
}

TEST(OpenAiChat, ToolChoice) {
  const std::string tools = R"("tools": [{"type": "function", "function": {"name": "f"}}],
                              "messages": [{"role": "user", "content": "hi"}])";
  const std::string none = Prompt(R"({"tool_choice": "none", )" + tools + "}");
  EXPECT_EQ(none, DefaultSystem() + "<|start|>user<|message|>hi<|end|><|start|>assistant");
  const std::string autos = Prompt(R"({"tool_choice": "auto", )" + tools + "}");
  EXPECT_NE(autos.find("'functions'.<|end|><|start|>developer<|message|># Tools"),
            std::string::npos);
  const std::string required = Prompt(R"({"tool_choice": "required", )" + tools + "}");
  EXPECT_NE(required.find(std::string("# Instructions\n\n") + kToolChoiceRequiredInstruction +
                          "\n\n# Tools"),
            std::string::npos)
      << required;
  const std::string named = Prompt(
      R"({"tool_choice": {"type": "function", "function": {"name": "f"}}, )" + tools + "}");
  EXPECT_NE(named.find("# Instructions\n\nYou must call the function functions.f before you "
                       "answer.\n\n# Tools"),
            std::string::npos)
      << named;
}

TEST(OpenAiChat, ParametersKeepTheClientsPropertyOrder) {
  const std::string prompt = Prompt(R"({"tools": [{"type": "function", "function": {
      "name": "f", "parameters": {"type": "object", "properties": {
        "zeta": {"type": "string"}, "alpha": {"type": "number"}}}}}],
      "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_NE(prompt.find("type f = (_: {\nzeta?: string,\nalpha?: number,\n}) => any;"),
            std::string::npos)
      << prompt;
}

TEST(OpenAiChat, SystemExtensions) {
  const std::string prompt = Prompt(R"({"model_identity": "You are Atom.",
      "knowledge_cutoff": "2025-01", "conversation_start_date": "2025-08-01",
      "builtin_tools": ["python"], "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_TRUE(prompt.starts_with("<|start|>system<|message|>You are Atom.\nKnowledge cutoff: "
                                 "2025-01\nCurrent date: 2025-08-01\n\nReasoning: medium\n\n"
                                 "# Tools\n\n## python\n\nUse this tool"))
      << prompt;
}

TEST(OpenAiChat, ErrorsNameTheField) {
  struct Case {
    const char* request;
    const char* error;
  };
  const Case cases[] = {
      {R"([1])", "request: must be a JSON object"},
      {R"({"messages": [)", "request: not valid JSON"},
      {R"({})", "messages: required"},
      {R"({"messages": {}})", "messages: must be an array"},
      {R"({"messages": []})", "messages: must not be empty"},
      {R"({"messages": [1]})", "messages[0]: must be an object"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role: required"},
      {R"({"messages": [{"role": 1, "content": "x"}]})", "messages[0].role: must be a string"},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                        {"role": "user", "content": "c"}, {"role": "robot", "content": "x"}]})",
       "messages[3].role: unknown role \"robot\""},
      {R"({"messages": [{"role": "function", "content": 5}]})",
       "messages[0].role: unknown role \"function\""},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content: required"},
      {R"({"messages": [{"role": "system", "content": null}]})", "messages[0].content: required"},
      {R"({"messages": [{"role": "user", "content": 5}]})",
       "messages[0].content: must be a string, an array of content parts or null"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       "messages[0].content[0].type: unsupported content part type \"image_url\" (only \"text\")"},
      {R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})",
       "messages[0].content[0].type: required"},
      {R"({"messages": [{"role": "user", "content": ["x"]}]})",
       "messages[0].content[0]: must be an object"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})",
       "messages[0].content[0].text: must be a string"},
      {R"({"messages": [{"role": "assistant"}]})",
       "messages[0]: an assistant message needs content, reasoning_content or tool_calls"},
      {R"({"messages": [{"role": "assistant", "reasoning_content": 3}]})",
       "messages[0].reasoning_content: must be a string"},
      {R"({"messages": [{"role": "assistant", "tool_calls": {}}]})",
       "messages[0].tool_calls: must be an array"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [3]}]})",
       "messages[0].tool_calls[0]: must be an object"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"type": "custom"}]}]})",
       "messages[0].tool_calls[0].type: unsupported tool call type \"custom\" (only "
       "\"function\")"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]})",
       "messages[0].tool_calls[0].function: required"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]})",
       "messages[0].tool_calls[0].function.name: required"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "a b"}}]}]})",
       "messages[0].tool_calls[0].function.name: \"a b\" may only contain letters, digits, '_' "
       "and '-'"},
      {R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [
            {"id": "1", "function": {"name": "f", "arguments": "{}"}},
            {"id": "2", "function": {"name": "f", "arguments": "{\"a\": "}}]}]})",
       "messages[1].tool_calls[1].function.arguments: not valid JSON"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [
            {"function": {"name": "f", "arguments": 3}}]}]})",
       "messages[0].tool_calls[0].function.arguments: must be a string of JSON or an object"},
      {R"({"messages": [{"role": "tool", "content": "x"}]})", "messages[0].tool_call_id: required"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a",
            "function": {"name": "f"}}]}, {"role": "tool", "tool_call_id": "b", "content": "x"}]})",
       "messages[1].tool_call_id: no earlier assistant tool call has id \"b\""},
      {R"({"messages": [{"role": "tool", "tool_call_id": 1, "content": "x"}]})",
       "messages[0].tool_call_id: must be a string"},
      {R"({"tools": {}, "messages": [{"role": "user", "content": "x"}]})",
       "tools: must be an array"},
      {R"({"tools": [{"type": "retrieval"}], "messages": [{"role": "user", "content": "x"}]})",
       "tools[0].type: unsupported tool type \"retrieval\" (only \"function\")"},
      {R"({"tools": [{"type": "function"}], "messages": [{"role": "user", "content": "x"}]})",
       "tools[0].function: required"},
      {R"({"tools": [{"function": {"name": ""}}], "messages": [{"role": "user", "content": "x"}]})",
       "tools[0].function.name: must be 1 to 64 characters"},
      {R"({"tools": [{"function": {"name": "f"}}, {"function": {"name": "f"}}],
           "messages": [{"role": "user", "content": "x"}]})",
       "tools[1].function.name: duplicate tool name \"f\""},
      {R"({"tools": [{"function": {"name": "f", "description": 1}}],
           "messages": [{"role": "user", "content": "x"}]})",
       "tools[0].function.description: must be a string"},
      {R"({"tools": [{"function": {"name": "f", "parameters": "x"}}],
           "messages": [{"role": "user", "content": "x"}]})",
       "tools[0].function.parameters: must be a JSON Schema object"},
      {R"({"tools": [{"function": {"name": "f", "parameters": {"type": "object",
            "properties": {"unit": {"type": "string", "enum": "c"}}}}}],
           "messages": [{"role": "user", "content": "x"}]})",
       "tools[0].function.parameters.properties.unit.enum: must be an array"},
      {R"({"tool_choice": "always", "messages": [{"role": "user", "content": "x"}]})",
       "tool_choice: must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
       "\"function\": {\"name\": ...}}"},
      {R"({"tool_choice": "required", "messages": [{"role": "user", "content": "x"}]})",
       "tool_choice: \"required\" but the request has no tools"},
      {R"({"tool_choice": {"type": "function", "function": {"name": "g"}},
           "tools": [{"function": {"name": "f"}}],
           "messages": [{"role": "user", "content": "x"}]})",
       "tool_choice.function.name: no tool named \"g\" in tools"},
      {R"({"tool_choice": {"type": "x"}, "messages": [{"role": "user", "content": "x"}]})",
       "tool_choice.type: must be \"function\""},
      {R"({"reasoning_effort": "max", "messages": [{"role": "user", "content": "x"}]})",
       "reasoning_effort: must be \"low\", \"medium\" or \"high\", got \"max\""},
      {R"({"reasoning_effort": 1, "messages": [{"role": "user", "content": "x"}]})",
       "reasoning_effort: must be a string"},
      {R"({"model_identity": [], "messages": [{"role": "user", "content": "x"}]})",
       "model_identity: must be a string"},
      {R"({"builtin_tools": ["browser", "shell"], "messages": [{"role": "user", "content": "x"}]})",
       "builtin_tools[1]: unknown built-in tool \"shell\" (\"browser\" or \"python\")"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Prompt(c.request), std::string("ERROR: ") + c.error) << c.request;
  }
}

TEST(OpenAiChat, ErrorsAreInvalidArgument) {
  auto result = OpenAiChatTextToConversation(R"({"messages": 1})");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace atom
