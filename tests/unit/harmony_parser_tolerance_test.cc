// HarmonyParser on output that is not well formed: header parsing corner cases, each tolerated
// malformation (harmony_parser.h lists them), truncation at every point of a real completion, and
// thousands of random token sequences.
#include <climits>
#include <random>

#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "harmony_parser_test_util.h"
#include "tokenizer/harmony_parser.h"

namespace atom {
namespace {

using namespace harmony_test;  // NOLINT

constexpr int32_t kReturnId = 200002, kConstrainId = 200003, kChannelId = 200005;
constexpr int32_t kStartId = 200006, kEndId = 200007, kMessageId = 200008, kCallId = 200012;

std::vector<Term> StopsOf(const Parsed& p) {
  std::vector<Term> stops;
  for (const HarmonyEvent& e : p.events) {
    if (e.kind == HarmonyEventKind::kStop) stops.push_back(e.terminator);
  }
  return stops;
}

// ---- ParseHarmonyHeader ---------------------------------------------------------------------

TEST(HarmonyParserHeader, ReadsEveryPlacementOfRecipientAndContentType) {
  auto h = ParseHarmonyHeader("assistant to=functions.x<|channel|>commentary <|constrain|>json",
                              std::nullopt);
  EXPECT_TRUE(h.status.ok());
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "commentary", "functions.x", "<|constrain|>json"));
  h = ParseHarmonyHeader("<|channel|>commentary to=functions.x json", Role::kAssistant);
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "commentary", "functions.x", "json"));
  h = ParseHarmonyHeader("<|channel|>analysis to=python code", Role::kAssistant);
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "analysis", "python", "code"));
  h = ParseHarmonyHeader("assistant<|channel|>final", std::nullopt);
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "final"));
  h = ParseHarmonyHeader("assistant<|channel|>final", Role::kAssistant);  // role word repeated
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "final"));
  h = ParseHarmonyHeader("functions.get_weather to=assistant<|channel|>commentary", std::nullopt);
  EXPECT_EQ(h.header, Msg(Role::kTool, "", "commentary", "assistant", "", "functions.get_weather"));
  h = ParseHarmonyHeader("user", std::nullopt);
  EXPECT_EQ(h.header, Msg(Role::kUser, ""));
  h = ParseHarmonyHeader("<|channel|>final\xC2\xA0x", Role::kAssistant);  // U+00A0 ends a channel
  EXPECT_EQ(h.header.channel, "final");
}

TEST(HarmonyParserHeader, WhatHarmonyRejectsIsReadAsFarAsItGoes) {
  auto h = ParseHarmonyHeader("browser.search", std::nullopt);
  EXPECT_FALSE(h.status.ok());
  EXPECT_EQ(h.header, Msg(Role::kTool, "", "", "", "", "browser.search"));
  h = ParseHarmonyHeader("  ", std::nullopt);
  EXPECT_FALSE(h.status.ok());
  EXPECT_EQ(h.header.role, Role::kAssistant);
  h = ParseHarmonyHeader("<|channel|> x", Role::kAssistant);
  EXPECT_FALSE(h.status.ok());
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "", "x"));
  h = ParseHarmonyHeader("<|channel|>final a b c", Role::kAssistant);
  EXPECT_NE(h.status.message().find("\"a\""), std::string::npos) << h.status.ToString();
  EXPECT_EQ(h.header, Msg(Role::kAssistant, "", "final", "b", "c"));
}

// ---- Tolerated malformations ----------------------------------------------------------------

TEST_F(HarmonyParserTest, TextBeforeTheFirstHeaderIsAnAssistantMessage) {
  Parsed p = ParseText(
      "Hello there<|end|><|start|>assistant<|channel|>final<|message|>Hi<|return|>", NoRole());
  EXPECT_EQ(p.messages,
            (std::vector{Msg(Role::kAssistant, "Hello there"),
                         Msg(Role::kAssistant, "Hi", "final")}))
      << Show(p.messages);
  EXPECT_GT(p.anomalies, 0u);
  EXPECT_TRUE(p.statuses.empty());
  // Strict mode reports the same repair as errors.
  Parsed strict = ParseText(
      "Hello there<|end|><|start|>assistant<|channel|>final<|message|>Hi<|return|>", Strict({}));
  EXPECT_EQ(strict.messages, p.messages);
  EXPECT_FALSE(strict.statuses.empty());
}

TEST_F(HarmonyParserTest, MissingStartOrEndBetweenMessages) {
  const std::vector<HarmonyMessage> two = {Msg(Role::kAssistant, "think", "analysis"),
                                           Msg(Role::kAssistant, "answer", "final")};
  // <|end|> without the following <|start|>assistant.
  Parsed p = ParseText("<|channel|>analysis<|message|>think<|end|>"
                       "<|channel|>final<|message|>answer<|return|>");
  EXPECT_EQ(p.messages, two) << Show(p.messages);
  EXPECT_EQ(p.terminators, (std::vector{Term::kEnd, Term::kReturn}));
  // <|start|> without the <|end|> before it.
  p = ParseText("<|channel|>analysis<|message|>think<|start|>assistant"
                "<|channel|>final<|message|>answer<|return|>");
  EXPECT_EQ(p.messages, two) << Show(p.messages);
  EXPECT_EQ(p.terminators, (std::vector{Term::kNewMessage, Term::kReturn}));
  // <|channel|> right after content: neither <|end|> nor <|start|>assistant.
  p = ParseText("<|channel|>analysis<|message|>think<|channel|>final<|message|>answer<|return|>");
  EXPECT_EQ(p.messages, two) << Show(p.messages);
  EXPECT_EQ(p.terminators, (std::vector{Term::kNewMessage, Term::kReturn}));
  // A header interrupted by <|start|> is salvaged; an empty one is simply restarted.
  p = ParseText("<|channel|>analysis think<|start|>assistant<|channel|>final<|message|>answer"
                "<|return|>");
  EXPECT_EQ(p.messages, two) << Show(p.messages);
  p = ParseText("<|start|><|start|>assistant<|channel|>final<|message|>answer<|end|>", NoRole());
  EXPECT_EQ(p.messages, std::vector{two[1]});
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, UnknownChannelIsKeptAsIs) {
  Parsed p = ParseText("<|channel|>thoughts<|message|>x<|end|>");
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "x", "thoughts")});
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, EndWhereReturnWasExpected) {
  Parsed p = ParseText("<|channel|>final<|message|>4<|end|>");
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "4", "final")});
  EXPECT_EQ(p.terminators, std::vector{Term::kEnd});
  EXPECT_TRUE(StopsOf(p).empty());
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, StopTokensWithNoMessageOpenStillStop) {
  Parsed p = ParseText("<|channel|>final<|message|>4<|end|><|return|>");
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "4", "final")});
  EXPECT_EQ(StopsOf(p), std::vector{Term::kReturn});
  p = Parse(std::vector<int32_t>{kCallId}, NoRole());
  EXPECT_TRUE(p.messages.empty());
  EXPECT_EQ(StopsOf(p), std::vector{Term::kCall});
  // A stop token as the very first token (empty header): no message.
  p = Parse(std::vector<int32_t>{kReturnId});
  EXPECT_TRUE(p.messages.empty());
  EXPECT_EQ(StopsOf(p), std::vector{Term::kReturn});
}

TEST_F(HarmonyParserTest, OtherSpecialTokensInsideContentAreLiteralText) {
  std::vector<int32_t> ids = Concat({{kChannelId}, tok().Encode("final"), {kMessageId},
                                     tok().Encode("a"), {kConstrainId}, tok().Encode("b"),
                                     {kMessageId}, tok().Encode("c"), {200009}, tok().Encode("d"),
                                     {kEndId}});
  Parsed p = Parse(ids);
  EXPECT_EQ(p.messages,
            std::vector{Msg(Role::kAssistant, "a<|constrain|>b<|message|>c<|reserved_200009|>d",
                            "final")});
  EXPECT_EQ(p.anomalies, 3u);
}

TEST_F(HarmonyParserTest, EndOfTextEndsEverything) {
  Parsed p = ParseText("<|channel|>final<|message|>4<|endoftext|>");
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "4", "final")});
  EXPECT_EQ(p.terminators, std::vector{Term::kEndOfText});
  EXPECT_EQ(StopsOf(p), std::vector{Term::kEndOfText});
  p = ParseText("<|channel|>final 4<|endoftext|>");  // inside a header: salvaged
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "4", "final")});
  EXPECT_EQ(StopsOf(p), std::vector{Term::kEndOfText});
  p = ParseText("<|endoftext|>", NoRole());
  EXPECT_TRUE(p.messages.empty());
  EXPECT_EQ(StopsOf(p), std::vector{Term::kEndOfText});
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, TruncatedOutputReportsThePartialMessage) {
  HarmonyParser parser(tok());
  std::vector<HarmonyEvent> events;
  ASSERT_TRUE(
      parser.Push(tok().EncodeWithSpecial("<|channel|>final<|message|>The answer is"), &events)
          .ok());
  ASSERT_NE(parser.current(), nullptr);
  EXPECT_EQ(*parser.current(), Msg(Role::kAssistant, "The answer is", "final"));
  EXPECT_TRUE(parser.messages().empty());
  ASSERT_TRUE(parser.Finish(&events).ok());
  EXPECT_EQ(parser.current(), nullptr);
  EXPECT_EQ(parser.messages(), std::vector{Msg(Role::kAssistant, "The answer is", "final")});
  EXPECT_EQ(parser.terminators(), std::vector{Term::kTruncated});
  EXPECT_EQ(parser.anomaly_count(), 0u);
  EXPECT_TRUE(parser.Finish(&events).ok());  // a second Finish changes nothing
  EXPECT_EQ(parser.messages().size(), 1u);

  // Cut inside a header: the header is dropped...
  for (const char* text : {"<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>fin",
                           "<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions",
                           "<|channel|>analysis<|message|>x<|end|><|start|>browser"}) {
    Parsed p = ParseText(text);
    EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "x", "analysis")}) << text;
    EXPECT_EQ(p.anomalies, 1u);
  }
  for (const char* text : {"<|channel|>final The answer", " to=functions.get_weather"}) {
    Parsed p = ParseText(text);
    EXPECT_TRUE(p.messages.empty()) << text;
  }
  // ... unless it is plain text where the first header should be (a model writing no headers).
  Parsed p = ParseText("The answer is");
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "The answer is")});
  EXPECT_EQ(p.terminators, std::vector{Term::kTruncated});
  p = ParseText("<|channel|>final<|message|>4<|end|>Extra text", NoRole());
  EXPECT_EQ(p.messages, (std::vector{Msg(Role::kAssistant, "4", "final"),
                                     Msg(Role::kAssistant, "Extra text")}));
  p = Parse(std::vector<int32_t>{});  // nothing at all
  EXPECT_TRUE(p.messages.empty());
  EXPECT_EQ(p.anomalies, 0u);
}

TEST_F(HarmonyParserTest, HeaderFaultsAreRepairedAndReported) {
  Parsed p = ParseText("<|start|><|message|>hi<|end|>", NoRole());  // no role
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "hi")});
  EXPECT_EQ(p.anomalies, 1u);
  p = ParseText("<|start|>assistant<|channel|>final<|message|>hi<|end|>", Strict({}));
  EXPECT_TRUE(p.statuses.empty());
  p = ParseText("<|start|>assistant<|channel|>final three extra words<|message|>hi<|end|>",
                Strict({}));
  EXPECT_EQ(p.statuses.size(), 1u);  // "three" is left over; harmony rejects the header
  EXPECT_EQ(p.messages, std::vector{Msg(Role::kAssistant, "hi", "final", "extra", "words")});
  // Invalid UTF-8 in a header: 9552 is " \xF0\x9F".
  p = Parse(Concat({{kChannelId}, tok().Encode("final"), {9552, kMessageId}, tok().Encode("ok"),
                    {kEndId}}));
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0].channel, "final");
  EXPECT_EQ(p.messages[0].content, "ok");
  EXPECT_EQ(p.anomalies, 1u);
}

// ---- Robustness -----------------------------------------------------------------------------

// Every prefix of a real completion, finished there: consistent, and the messages completed
// before the cut are those of the whole.
TEST_F(HarmonyParserTest, EveryTruncationOfARealCompletion) {
  std::vector<int32_t> ids = tok().EncodeWithSpecial(Fixture("test_streamable_parser.txt"));
  Parsed whole = Parse(ids);
  for (size_t n = 0; n <= ids.size(); ++n) {
    SCOPED_TRACE(n);
    Parsed p = Parse(std::span(ids).first(n));
    for (size_t i = 0; i < p.messages.size(); ++i) {
      if (p.terminators[i] != Term::kTruncated) {
        EXPECT_EQ(p.messages[i], whole.messages[i]);
      } else {
        EXPECT_TRUE(whole.messages[i].content.starts_with(p.messages[i].content));
      }
    }
  }
}

TEST_F(HarmonyParserTest, RandomTokenSoupNeverBreaksTheParser) {
  std::vector<int32_t> words;
  for (const char* w : {"assistant", "analysis", "final", "commentary", " to=functions.get_weather",
                        " to=browser.search", " json", " code", "user", "tool", "browser.search",
                        " ", "\n", "Hello", "to=", "<|", "functions", "💖", "🐔", " é"}) {
    for (int32_t id : tok().Encode(w)) words.push_back(id);
  }
  words.push_back(9552);  // " \xF0\x9F"
  const std::vector<int32_t> invalid = {-1, -3, tok().vocab_size(), 250000, INT_MAX, INT_MIN};
  std::mt19937 rng(20250801);
  auto pick = [&](const std::vector<int32_t>& v) { return v[rng() % v.size()]; };
  for (int round = 0; round < 5000; ++round) {
    SCOPED_TRACE(round);
    std::vector<int32_t> ids(rng() % 48);
    for (int32_t& id : ids) {
      unsigned r = rng() % 100;
      if (r < 40) {
        id = static_cast<int32_t>(199998 + rng() % 21);  // the specials 199998..200018
      } else if (r < 75) {
        id = pick(words);
      } else if (r < 97) {
        id = static_cast<int32_t>(rng() % 201088);
      } else {
        id = pick(invalid);
      }
    }
    HarmonyParser::Options options;
    if (round % 2 == 1) options.first_role = std::nullopt;
    options.strict = round % 3 == 0;
    Parsed p = Parse(ids, options);  // checks consistency (and ASan/UBSan check the rest)
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "ids: " << fmt::format("{}", fmt::join(ids, " "));
      break;
    }
  }
}

}  // namespace
}  // namespace atom
