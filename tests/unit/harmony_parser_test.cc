// HarmonyParser on well-formed output: openai/harmony's parser fixtures and tests (test-data/*.txt,
// tests/test_harmony.py, src/tests.rs at ec7606d), the official completion token lists, and UTF-8
// assembly. Malformed output: harmony_parser_tolerance_test.cc.
#include "tokenizer/harmony_parser.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harmony_parser_test_util.h"

namespace atom {
namespace {

using namespace harmony_test;  // NOLINT

// ---- openai/harmony fixtures and expectations ----------------------------------------------

TEST_F(HarmonyParserTest, SimpleReasoningResponseFixture) {
  Parsed p = Parse(FixtureIds("test_simple_reasoning_response.txt"));
  EXPECT_EQ(p.messages,
            (std::vector<HarmonyMessage>{
                Msg(Role::kAssistant,
                    "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.", "analysis"),
                Msg(Role::kAssistant, "2 + 2 = 4.", "final")}))
      << Show(p.messages);
  // The file ends the analysis with <|return|> and the final answer with nothing.
  EXPECT_EQ(p.terminators, (std::vector<Term>{Term::kReturn, Term::kTruncated}));
  EXPECT_TRUE(p.statuses.empty());
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, SimpleToolCallFixture) {
  Parsed p = Parse(FixtureIds("test_simple_tool_call.txt"));
  EXPECT_EQ(p.messages,
            (std::vector<HarmonyMessage>{
                Msg(Role::kAssistant,
                    "User asks: \"What is the weather in Tokyo?\" We need to use lookup_weather "
                    "tool.",
                    "analysis"),
                Msg(Role::kAssistant, "{\"location\": \"Tokyo\"}", "analysis", "lookup_weather",
                    "code")}))
      << Show(p.messages);
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, StreamableParserFixture) {
  Parsed p = ParseText(Fixture("test_streamable_parser.txt"));
  ASSERT_EQ(p.messages.size(), 3u) << Show(p.messages);
  EXPECT_EQ(p.messages[0].channel, "analysis");
  EXPECT_TRUE(p.messages[0].content.starts_with("User asks \"Who is the current US president?\""));
  EXPECT_TRUE(p.messages[0].content.ends_with("Let's browse to confirm."));
  EXPECT_EQ(p.messages[1],
            Msg(Role::kAssistant,
                "{\"query\": \"current US president July 2025\", \"topn\": 10, \"source\": "
                "\"news\"}",
                "commentary", "browser.search", "code"));
  EXPECT_EQ(p.messages[2], Msg(Role::kTool, "{\"result\": \"https://openai.com/\"}", "commentary",
                               "assistant", "", "browser.search"));
  EXPECT_EQ(p.terminators, (std::vector<Term>{Term::kEnd, Term::kCall, Term::kEnd}));
  EXPECT_EQ(p.anomalies, 0u);
  EXPECT_TRUE(ParseText(Fixture("test_streamable_parser.txt"), Strict()).statuses.empty());
}

TEST_F(HarmonyParserTest, ToolResponseParsingFixture) {
  Parsed p = ParseText(Fixture("test_tool_response_parsing.txt"), NoRole());
  EXPECT_EQ(p.messages, (std::vector<HarmonyMessage>{Msg(
                            Role::kTool, "{\"result\": \"https://openai.com/\"}", "commentary",
                            "assistant", "", "browser.search")}))
      << Show(p.messages);
  EXPECT_EQ(p.terminators, (std::vector<Term>{Term::kTruncated}));
  EXPECT_EQ(p.anomalies, 0u);
}

// The completion token lists written literally in OpenAI's repositories (spec §6.10 Example A…).
TEST_F(HarmonyParserTest, OfficialLiteralCompletions) {
  nlohmann::json vectors =
      nlohmann::json::parse(ReadFile(testing::DataDir() + "/tokenizer/o200k_test_vectors.json"));
  const HarmonyMessage analysis_2 = Msg(
      Role::kAssistant, "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.",
      "analysis");
  const HarmonyMessage final_4 = Msg(Role::kAssistant, "2 + 2 = 4.", "final");
  const HarmonyMessage analysis_tokyo = Msg(
      Role::kAssistant,
      "User asks: \"What is the weather in Tokyo?\" We need to use lookup_weather tool.",
      "analysis");
  const HarmonyMessage call_tokyo = Msg(Role::kAssistant, "{\"location\": \"Tokyo\"}", "analysis",
                                        "lookup_weather", "code");
  int completions = 0;
  for (const auto& group : vectors["groups"]) {
    if (group["name"] != "official_literal") continue;
    for (const auto& c : group["cases"]) {
      std::string text = c["text"].get<std::string>();
      if (!text.starts_with("<|channel|>")) continue;  // not a completion
      ++completions;
      std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
      Parsed p = Parse(ids);
      bool weather = text.find("Tokyo") != std::string::npos;
      std::vector<HarmonyMessage> expected =
          weather ? std::vector{analysis_tokyo, call_tokyo} : std::vector{analysis_2, final_4};
      EXPECT_EQ(p.messages, expected) << text << "\n" << Show(p.messages);
      EXPECT_EQ(p.anomalies, 0u) << text;
    }
  }
  EXPECT_EQ(completions, 4);
}

TEST_F(HarmonyParserTest, RecipientAndConstrainPlacements) {
  const HarmonyMessage tokyo = Msg(Role::kAssistant, "{\"location\": \"Tokyo\"}", "commentary",
                                   "functions.get_weather", "<|constrain|>json");
  for (const char* text :
       {"<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json"
        "<|message|>{\"location\": \"Tokyo\"}<|call|>",
        "<|start|>assistant to=functions.get_weather<|channel|>commentary<|constrain|>json"
        "<|message|>{\"location\": \"Tokyo\"}<|call|>",
        "<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json"
        "<|message|>{\"location\": \"Tokyo\"}<|call|>",
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        "<|message|>{\"location\": \"Tokyo\"}<|call|>"}) {
    Parsed p = ParseText(text, Strict(std::nullopt));
    EXPECT_EQ(p.messages, std::vector{tokyo}) << text << "\n" << Show(p.messages);
    EXPECT_EQ(p.terminators, std::vector{Term::kCall});
    EXPECT_TRUE(p.statuses.empty()) << text;
  }
  // The same, continuing after `<|start|>assistant` as the model does.
  Parsed p = ParseText("<|channel|>commentary to=functions.get_weather <|constrain|>json"
                       "<|message|>{\"location\": \"Tokyo\"}<|call|>");
  EXPECT_EQ(p.messages, std::vector{tokyo}) << Show(p.messages);
  // The HF template's form: content type "json" without <|constrain|>.
  p = ParseText(" to=functions.get_weather<|channel|>commentary json<|message|>{}<|call|>");
  EXPECT_EQ(p.messages, (std::vector{Msg(Role::kAssistant, "{}", "commentary",
                                         "functions.get_weather", "json")}));
}

// test_streamable_parser_missing_message_token*: harmony's non-strict recovery; strict errors.
TEST_F(HarmonyParserTest, HeaderWithoutMessageTokenIsSalvaged) {
  const std::string rest =
      "<|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"
      "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that."
      "<|return|>";
  const HarmonyMessage we = Msg(Role::kAssistant, "We must refuse", "analysis");
  const HarmonyMessage sorry =
      Msg(Role::kAssistant, "I'm sorry, but I can't help with that.", "final");
  Parsed p = ParseText("I must refuse<|end|>" + rest);
  EXPECT_EQ(p.messages, (std::vector{Msg(Role::kAssistant, "I must refuse"), we, sorry}))
      << Show(p.messages);
  EXPECT_TRUE(p.statuses.empty());
  EXPECT_GT(p.anomalies, 0u);
  p = ParseText("<|channel|>analysis I must refuse<|end|>" + rest);
  EXPECT_EQ(p.messages,
            (std::vector{Msg(Role::kAssistant, "I must refuse", "analysis"), we, sorry}));
  p = ParseText("... Let's use the tool.<|end|><|start|>assistant to=functions.get_weather"
                "<|channel|>commentary json<|message|>{\"location\": \"Tokyo\"}<|call|>");
  EXPECT_EQ(p.messages, (std::vector{Msg(Role::kAssistant, "... Let's use the tool."),
                                     Msg(Role::kAssistant, "{\"location\": \"Tokyo\"}",
                                         "commentary", "functions.get_weather", "json")}));
  p = ParseText("<|channel|>commentary Hello<|end|>");
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "Hello", "commentary")});
  // Strict mode reports it and recovers the same way.
  Parsed strict = ParseText("I must refuse<|end|>" + rest, Strict());
  EXPECT_FALSE(strict.statuses.empty());
  EXPECT_EQ(strict.messages, (std::vector{Msg(Role::kAssistant, "I must refuse"), we, sorry}));
}

// ---- UTF-8 assembly (harmony's invalid/tricky UTF-8 tests) ----------------------------------

TEST_F(HarmonyParserTest, InvalidUtf8BecomesReplacementCharacters) {
  std::vector<int32_t> prefix = tok().EncodeWithSpecial("<|start|>assistant<|message|>");
  std::vector<int32_t> end = tok().EncodeWithSpecial("<|end|>");
  // 9552 = " \xF0\x9F": a space and the start of a 4-byte character.
  Parsed p = Parse(Concat({prefix, {9552, 9552}, tok().Encode("worked"), end}), NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, " \uFFFD \uFFFDworked")});
  p = Parse(Concat({prefix, {9552}, tok().Encode("XY"), end}), NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, " \uFFFDXY")});
  p = Parse(Concat({prefix, {9552}, tok().Encode(" interesting"), end}), NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, " \uFFFD interesting")});
  // No end: Finish() reports the partial message with its content.
  p = Parse(Concat({prefix, {9552}, tok().Encode(" interesting story")}), NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, " \uFFFD interesting story")});
  EXPECT_EQ(p.terminators, std::vector{Term::kTruncated});
  // Held-back bytes do not leak into the next message.
  p = Parse(Concat({prefix, {9552, 9552}, end, prefix, tok().Encode("Hi"), end}), NoRole());
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[1], Msg(Role::kAssistant, "Hi"));
  // Partial bytes are flushed at the end.
  p = Parse(Concat({prefix, {9552}, tok().Encode("Hi")}), NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, " \uFFFDHi")});
}

TEST_F(HarmonyParserTest, EmojiSplitAcrossTokensArrivesWhole) {
  HarmonyParser parser(tok(), NoRole());
  std::vector<HarmonyEvent> events;
  ASSERT_TRUE(parser.Push(tok().EncodeWithSpecial("<|start|>assistant<|message|>"), &events).ok());
  std::vector<int32_t> heart = tok().Encode("💖");
  ASSERT_GE(heart.size(), 2u);
  events.clear();
  ASSERT_TRUE(parser.Push(heart[0], &events).ok());
  EXPECT_TRUE(events.empty());
  ASSERT_NE(parser.current(), nullptr);
  EXPECT_EQ(parser.current()->content, "");
  ASSERT_TRUE(parser.Push(std::span(heart).subspan(1), &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].text, "💖");
  EXPECT_EQ(parser.current()->content, "💖");
  ASSERT_TRUE(parser.Push(tok().EncodeWithSpecial("<|end|>"), &events).ok());
  EXPECT_EQ(parser.messages(), std::vector{Msg(Role::kAssistant, "💖")});
  // "Chicken 🐔" style: [132990, 9552] ends mid-character ("Chicken \xf0\x9f").
  Parsed p = Parse(Concat({{200005, 17196, 200008}, tok().Encode("Chicken 🐔 and 👨‍👩‍👧‍👦!")}));
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "Chicken 🐔 and 👨‍👩‍👧‍👦!", "final")});
}

TEST_F(HarmonyParserTest, TrickyUtf8TextStreamsExactly) {
  const std::string text =
      "Hello Müller, Γειά σου, Привет, שלום, مرحبا, नमस्ते, こんにちは, 안녕하세요, 你好. "
      "Normalized (naïve) vs. decomposed (naïve) characters. Some emojis: 😊👋🏾👨‍👩‍👧‍👦🇺🇸.";
  Parsed p = Parse(Concat({tok().EncodeWithSpecial("<|start|>assistant<|message|>"),
                           tok().Encode(text), tok().EncodeWithSpecial("<|end|>")}),
                   NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, text)});
}

TEST_F(HarmonyParserTest, IdOutsideVocabularyIsAnErrorAndAReplacementCharacter) {
  std::vector<int32_t> ids = tok().EncodeWithSpecial(
      "<|start|>assistant<|channel|>analysis<|message|>Practice invalid token handling.");
  ids.push_back(tok().vocab_size() + 5);
  Parsed p = Parse(ids, NoRole());
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "Practice invalid token handling.\uFFFD",
                                        "analysis")});
  ASSERT_EQ(p.statuses.size(), 1u);
  EXPECT_EQ(p.statuses[0].code(), StatusCode::kInvalidArgument);
  p = Parse(std::vector<int32_t>{-1, 200005, 17196, 200008, -7, 17, 200002});
  EXPECT_EQ(p.statuses.size(), 2u);
}

}  // namespace
}  // namespace atom
