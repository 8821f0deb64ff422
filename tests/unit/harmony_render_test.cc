// Harmony renderer: every rendering fixture of openai/harmony (tests/data/harmony/*.txt),
// byte-for-byte as text and token-for-token against the harmony_rendered_prompts vectors,
// built from the same conversations as harmony's tests (src/tests.rs, tests/test_harmony.py).
//
// Not rendering fixtures (model outputs, exercised by the parser's tests instead):
// test_simple_reasoning_response.txt, test_simple_tool_call.txt (token ids),
// test_streamable_parser.txt (starts mid-message at "<|channel|>"), and
// test_tool_response_parsing.txt (a tool message without its <|end|>).
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/harmony_render.h"
#include "tokenizer/tokenizer.h"

namespace atom {
namespace {

using Json = nlohmann::ordered_json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fixture text right-stripped, as harmony's tests read it.
std::string Fixture(const std::string& name) {
  std::string text = ReadFile(testing::DataDir() + "/harmony/" + name);
  while (!text.empty() && std::string_view(" \t\r\n\v\f").find(text.back()) != std::string::npos) {
    text.pop_back();
  }
  return text;
}

const Tokenizer& O200k() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    auto t = Tokenizer::O200kHarmony(testing::DataDir() + "/tokenizer/o200k_base.tiktoken");
    if (!t.ok()) ADD_FAILURE() << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }();
  return *tokenizer;
}

// file ("harmony/test_simple_convo.txt") -> ids, from the harmony_rendered_prompts group.
const std::map<std::string, std::vector<int32_t>>& RenderedPromptIds() {
  static const auto* ids = [] {
    auto* out = new std::map<std::string, std::vector<int32_t>>;
    nlohmann::json vectors = nlohmann::json::parse(
        ReadFile(testing::DataDir() + "/tokenizer/o200k_test_vectors.json"), nullptr, false);
    for (const auto& group : vectors["groups"]) {
      if (group["name"] != "harmony_rendered_prompts") continue;
      for (const auto& c : group["cases"]) {
        (*out)[c["file"].get<std::string>()] = c["ids"].get<std::vector<int32_t>>();
      }
    }
    return out;
  }();
  return *ids;
}

HarmonyMessage Text(HarmonyRole role, std::string content, std::string channel = "") {
  HarmonyMessage m;
  m.role = role;
  m.content = std::move(content);
  m.channel = std::move(channel);
  return m;
}

SystemContent System(std::optional<ReasoningEffort> effort = ReasoningEffort::kMedium) {
  SystemContent sys;
  sys.reasoning_effort = effort;
  return sys;
}

Conversation EffortConvo(ReasoningEffort effort, bool with_instructions) {
  Conversation c;
  c.messages.push_back(System(effort));
  if (with_instructions) {
    DeveloperContent dev;
    dev.instructions = "Answer the user's questions like a robot.";
    c.messages.push_back(dev);
  }
  c.messages.push_back(
      Text(HarmonyRole::kUser, "What is the capital of the largest country in the world?"));
  return c;
}

Conversation ReasoningConvo(ReasoningEffort effort, std::optional<std::string> date,
                            std::optional<std::string> cutoff, std::string question) {
  SystemContent sys = System(effort);
  sys.valid_channels = {"analysis", "final"};
  sys.conversation_start_date = std::move(date);
  if (cutoff) sys.knowledge_cutoff = cutoff;
  return Conversation{{sys, Text(HarmonyRole::kUser, std::move(question))}};
}

Conversation FunctionsWithParameters() {
  SystemContent sys = System(ReasoningEffort::kHigh);
  sys.conversation_start_date = "2025-06-28";
  DeveloperContent dev;
  dev.instructions = "Always respond in riddles";
  dev.WithFunctionTools({
      {"get_location", "Gets the location of the user.", std::nullopt},
      {"get_current_weather", "Gets the current weather in the provided location.",
       Json::parse(R"({"type": "object",
         "properties": {
           "location": {"type": "string",
                        "description": "The city and state, e.g. San Francisco, CA"},
           "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"}},
         "required": ["location"]})")},
      {"get_multiple_weathers", "Gets the current weather in the provided list of locations.",
       Json::parse(R"({"type": "object",
         "properties": {
           "locations": {"type": "array", "items": {"type": "string"},
             "description":
               "List of city and state, e.g. [\"San Francisco, CA\", \"New York, NY\"]"},
           "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"}},
         "required": ["locations"]})")},
      {"kitchensink", "A function with various complex schemas.",
       Json::parse(R"({"description": "params object", "type": "object",
         "properties": {
           "string": {"type": "string", "title": "STRING", "description": "A string",
                      "examples": ["hello", "world"]},
           "string_nullable": {"type": "string", "nullable": true,
                               "description": "A nullable string", "default": "the default"},
           "string_enum": {"type": "string", "enum": ["a", "b", "c"]},
           "oneof_string_or_number": {
             "oneOf": [{"type": "string", "default": "default_string_in_oneof"},
                       {"type": "number", "description": "numbers can happen too"}],
             "description": "a oneof", "default": 20}}})")},
  });
  return Conversation{{sys, dev, Text(HarmonyRole::kUser, "What is the weather like in SF?")}};
}

Conversation SystemWithTools(bool browser, bool python, bool function) {
  SystemContent sys;
  sys.conversation_start_date = "2025-06-28";
  if (browser) sys.WithBrowserTool();
  if (python) sys.WithPythonTool();
  Conversation c{{sys}};
  if (function) {
    DeveloperContent dev;
    dev.WithFunctionTools({{"lookup_weather",
                            "Use this tool to lookup the weather in a given location. Call it with "
                            "the parameter 'location', can be any textual description of a "
                            "location.",
                            Json::parse(R"({"type": "object",
                                "properties": {"location": {"type": "string"}},
                                "required": ["location"]})")}});
    c.messages.push_back(dev);
  }
  return c;
}

Conversation TwoPlusTwo(std::string analysis) {
  return Conversation{{Text(HarmonyRole::kUser, "What is 2 + 2?"),
                       Text(HarmonyRole::kAssistant, std::move(analysis), "analysis"),
                       Text(HarmonyRole::kAssistant, "2 + 2 equals 4.", "final"),
                       Text(HarmonyRole::kUser, "What about 9 / 2?")}};
}

Conversation OngoingAnalysis() {
  HarmonyMessage call = Text(HarmonyRole::kAssistant, R"({"location": "San Francisco"})",
                             "commentary");
  call.recipient = "functions.lookup_weather";
  call.content_type = "<|constrain|>json";
  HarmonyMessage result =
      Text(HarmonyRole::kTool, R"({"temperature": 20, "description": "sunny"})");
  result.author_name = "functions.lookup_weather";
  return Conversation{
      {Text(HarmonyRole::kUser, "What is the weather in SF?"),
       Text(HarmonyRole::kAssistant,
            "User asks: \u201cWhat is the weather in SF?\u201d We need to use lookup_weather tool.",
            "analysis"),
       call, result}};
}

Conversation KeepAnalysisBetweenFinals() {
  return Conversation{{Text(HarmonyRole::kUser, "What is 2 + 2?"),
                       Text(HarmonyRole::kAssistant, "thinking 2+2", "analysis"),
                       Text(HarmonyRole::kAssistant, "4", "final"),
                       Text(HarmonyRole::kUser, "What is 3 + 5?"),
                       Text(HarmonyRole::kAssistant, "thinking 3+5", "analysis"),
                       Text(HarmonyRole::kAssistant, "8", "final")}};
}

struct FixtureCase {
  std::string file;
  std::function<Conversation()> conversation;
  bool for_completion = true;
  bool auto_drop_analysis = true;
};

std::vector<FixtureCase> AllFixtures() {
  using E = ReasoningEffort;
  return {
      {"test_simple_convo.txt",
       [] { return Conversation{{System(), Text(HarmonyRole::kUser, "What is 2 + 2?")}}; }},
      {"test_simple_convo_low_effort.txt", [] { return EffortConvo(E::kLow, true); }},
      {"test_simple_convo_medium_effort.txt", [] { return EffortConvo(E::kMedium, true); }},
      {"test_simple_convo_high_effort.txt", [] { return EffortConvo(E::kHigh, true); }},
      {"test_simple_convo_low_effort_no_instruction.txt",
       [] { return EffortConvo(E::kLow, false); }},
      {"test_simple_convo_medium_effort_no_instruction.txt",
       [] { return EffortConvo(E::kMedium, false); }},
      {"test_simple_convo_high_effort_no_instruction.txt",
       [] { return EffortConvo(E::kHigh, false); }},
      {"test_reasoning_system_message.txt",
       [] { return ReasoningConvo(E::kMedium, std::nullopt, std::nullopt, "What is 2 + 2?"); }},
      {"test_reasoning_system_message_no_instruction.txt",
       [] {
         return ReasoningConvo(E::kHigh, std::nullopt, std::nullopt,
                               "What is the best place to eat candy in the world?");
       }},
      {"test_reasoning_system_message_with_dates.txt",
       [] { return ReasoningConvo(E::kMedium, "2021-01-01", "2021-01", "What is 42 * pi?"); }},
      {"test_render_functions_with_parameters.txt", FunctionsWithParameters},
      {"test_no_tools.txt", [] { return SystemWithTools(false, false, false); }},
      {"test_browser_tool_only.txt", [] { return SystemWithTools(true, false, false); }},
      {"test_browser_and_python_tool.txt", [] { return SystemWithTools(true, true, false); }},
      {"test_browser_and_function_tool.txt", [] { return SystemWithTools(true, false, true); }},
      {"test_dropping_cot_by_default.txt",
       [] {
         return TwoPlusTwo("User asks: \u201cWhat is 2 + 2?\u201d Simple arithmetic. Provide "
                           "answer.");
       }},
      {"test_preserve_cot.txt",
       [] { return TwoPlusTwo("User asks a simple question: \"What is 2 + 2?\" The answer: 4."); },
       true, /*auto_drop_analysis=*/false},
      {"test_does_not_drop_if_ongoing_analysis.txt", OngoingAnalysis},
      {"test_keep_analysis_between_finals.txt", KeepAnalysisBetweenFinals,
       /*for_completion=*/false},
  };
}

StatusOr<RenderedPrompt> Render(const FixtureCase& c) {
  RenderOptions options;
  options.auto_drop_analysis = c.auto_drop_analysis;
  return c.for_completion
             ? RenderConversationForCompletion(c.conversation(), HarmonyRole::kAssistant, options)
             : RenderConversation(c.conversation(), options);
}

class HarmonyRenderFixture : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(HarmonyRenderFixture, TextMatchesFixtureByteForByte) {
  auto prompt = Render(GetParam());
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->Text(), Fixture(GetParam().file));
}

TEST_P(HarmonyRenderFixture, IdsMatchRenderedPromptVectors) {
  auto prompt = Render(GetParam());
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  auto it = RenderedPromptIds().find("harmony/" + GetParam().file);
  ASSERT_NE(it, RenderedPromptIds().end()) << GetParam().file;
  auto ids = prompt->Ids(O200k());
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, it->second);
}

INSTANTIATE_TEST_SUITE_P(HarmonyRender, HarmonyRenderFixture, ::testing::ValuesIn(AllFixtures()),
                         [](const ::testing::TestParamInfo<FixtureCase>& info) {
                           std::string name = info.param.file.substr(5);  // "test_"
                           return name.substr(0, name.size() - 4);        // ".txt"
                         });

TEST(HarmonyRender, EveryRenderedPromptVectorHasAFixtureCase) {
  std::set<std::string> covered;
  for (const FixtureCase& c : AllFixtures()) covered.insert("harmony/" + c.file);
  const std::set<std::string> outputs = {"harmony/test_streamable_parser.txt",
                                         "harmony/test_tool_response_parsing.txt"};
  ASSERT_EQ(RenderedPromptIds().size(), 21u);
  for (const auto& [file, ids] : RenderedPromptIds()) {
    EXPECT_TRUE(covered.count(file) || outputs.count(file)) << file;
  }
  EXPECT_EQ(covered.size(), 19u);
}

TEST(HarmonyRender, SpecExampleA64Ids) {
  const std::vector<int32_t> expected = {
      200006, 17360, 200008, 3575,  553,   17554, 162016, 11,    261,   4410,   6439,
      2359,   22203, 656,    7788,  17527, 558,   87447,  100594, 25,    220,    1323,
      19,     12,    3218,   279,   30377, 289,   25,     14093,  279,   2,      13888,
      18403,  25,    8450,   11,    49159, 11,    1721,   13,     21030, 2804,   413,
      7360,   395,   1753,   3176,  13,    200007, 200006, 1428,   200008, 4827,  382,
      220,    17,    659,    220,   17,    30,    200007, 200006, 173781};
  ASSERT_EQ(expected.size(), 64u);
  auto prompt = RenderConversationForCompletion(
      Conversation{{SystemContent{}, Text(HarmonyRole::kUser, "What is 2 + 2?")}});
  ASSERT_TRUE(prompt.ok());
  auto ids = prompt->Ids(O200k());
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, expected);
}

TEST(HarmonyRender, ToolCallHeaderPiecesAndConstrainToken) {
  HarmonyMessage call = Text(HarmonyRole::kAssistant, R"({"location": "Tokyo"})", "commentary");
  call.recipient = "functions.get_weather";
  call.content_type = "<|constrain|>json";
  auto prompt = RenderMessage(call);
  ASSERT_TRUE(prompt.ok());
  const std::vector<RenderedPiece> expected = {
      {true, "<|start|>"}, {false, "assistant"},  {false, " to=functions.get_weather"},
      {true, "<|channel|>"}, {false, "commentary"}, {false, " "},
      {true, "<|constrain|>"}, {false, "json"}, {true, "<|message|>"},
      {false, R"({"location": "Tokyo"})"}, {true, "<|call|>"}};
  EXPECT_EQ(prompt->pieces, expected);
  // harmony's test_tool_call_with_constrain_tokenized_correctly: rendering equals the
  // special-token encoding of the text.
  const std::string text =
      "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json"
      "<|message|>{\"location\": \"Tokyo\"}<|call|>";
  EXPECT_EQ(prompt->Text(), text);
  auto ids = prompt->Ids(O200k());
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, O200k().EncodeWithSpecial(text));
}

TEST(HarmonyRender, PlainContentTypeAndAuthorNameAndRecipientAll) {
  HarmonyMessage m = Text(HarmonyRole::kUser, "hi");
  m.author_name = "alice";
  m.recipient = "all";
  m.content_type = "code";
  auto prompt = RenderMessage(m);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(prompt->Text(), "<|start|>user:alice code<|message|>hi<|end|>");
}

TEST(HarmonyRender, ToolResultHeader) {
  HarmonyMessage m = Text(HarmonyRole::kTool, R"({"sunny": true})", "commentary");
  m.author_name = "functions.get_weather";
  m.recipient = "assistant";
  auto prompt = RenderMessage(m);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(prompt->Text(),
            "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
            "{\"sunny\": true}<|end|>");
}

TEST(HarmonyRender, SpecialTokenStringsInContentAreOrdinaryText) {
  auto prompt = RenderMessage(Text(HarmonyRole::kUser, "<|start|>"));
  ASSERT_TRUE(prompt.ok());
  auto ids = prompt->Ids(O200k());
  ASSERT_TRUE(ids.ok());
  const std::vector<int32_t> expected = {200006, 1428, 200008, 27, 91, 5236, 91, 29, 200007};
  EXPECT_EQ(*ids, expected);
}

TEST(HarmonyRender, RenderMessageEqualsOneMessageConversation) {
  HarmonyMessage m = Text(HarmonyRole::kUser, "Hello");
  auto one = RenderMessage(m);
  auto convo = RenderConversation(Conversation{{m}});
  auto completion = RenderConversationForCompletion(Conversation{{m}});
  ASSERT_TRUE(one.ok() && convo.ok() && completion.ok());
  EXPECT_EQ(one->pieces, convo->pieces);
  EXPECT_EQ(completion->Text(), convo->Text() + "<|start|>assistant");
}

TEST(HarmonyRender, TrainingEndsAFinalAnswerWithReturn) {
  Conversation c{{Text(HarmonyRole::kUser, "hi"), Text(HarmonyRole::kAssistant, "hello", "final")}};
  auto training = RenderConversationForTraining(c);
  auto regular = RenderConversation(c);
  ASSERT_TRUE(training.ok() && regular.ok());
  EXPECT_EQ(regular->Text(),
            "<|start|>user<|message|>hi<|end|><|start|>assistant<|channel|>final<|message|>hello"
            "<|end|>");
  EXPECT_EQ(training->Text(),
            "<|start|>user<|message|>hi<|end|><|start|>assistant<|channel|>final<|message|>hello"
            "<|return|>");
  Conversation no_final{{Text(HarmonyRole::kUser, "hi")}};
  auto t2 = RenderConversationForTraining(no_final);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2->Text(), "<|start|>user<|message|>hi<|end|>");
}

TEST(HarmonyRender, AutoDropNeedsTheLastAssistantMessageToBeFinal) {
  Conversation c = TwoPlusTwo("thinking");
  auto dropped = RenderConversation(c);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->Text().find("thinking"), std::string::npos);
  // A later assistant message that is not final (a pending tool call) keeps the analysis.
  HarmonyMessage call = Text(HarmonyRole::kAssistant, "{}", "commentary");
  call.recipient = "functions.f";
  c.messages.push_back(call);
  auto kept = RenderConversation(c);
  ASSERT_TRUE(kept.ok());
  EXPECT_NE(kept->Text().find("thinking"), std::string::npos);
}

TEST(HarmonyRender, ToolMessageWithoutNameIsAnErrorNamingTheMessage) {
  Conversation c{{Text(HarmonyRole::kUser, "hi"), Text(HarmonyRole::kTool, "result")}};
  auto prompt = RenderConversation(c);
  ASSERT_FALSE(prompt.ok());
  EXPECT_EQ(prompt.status().message(),
            "messages[1]: a tool message needs author_name (the tool's name)");
}

TEST(HarmonyRender, MalformedToolSchemaIsAnErrorNamingTheTool) {
  DeveloperContent dev;
  dev.WithFunctionTools({{"f", "", Json::parse(R"({"type": "object", "properties": []})")}});
  auto prompt = RenderConversation(Conversation{{SystemContent{}, dev}});
  ASSERT_FALSE(prompt.ok());
  EXPECT_EQ(prompt.status().message(),
            "messages[1]: functions.f.parameters.properties: must be an object");
}

TEST(HarmonyRender, ReasoningEffortNames) {
  for (ReasoningEffort e : {ReasoningEffort::kLow, ReasoningEffort::kMedium,
                            ReasoningEffort::kHigh}) {
    EXPECT_EQ(ParseReasoningEffort(ReasoningEffortName(e)), e);
  }
  EXPECT_EQ(ParseReasoningEffort("minimal"), std::nullopt);
}

}  // namespace
}  // namespace atom
