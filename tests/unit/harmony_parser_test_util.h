// Helpers of the HarmonyParser / HarmonyChatOutput tests: the o200k_harmony tokenizer, fixture
// files, and Parse(), which runs a parser token by token and all at once and checks that both
// agree and that the events match the messages.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_paths.h"
#include "tokenizer/harmony_parser.h"

namespace atom::harmony_test {

using Role = HarmonyRole;
using Term = HarmonyTerminator;

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fixture file's text, right-stripped as harmony's tests read it.
inline std::string Fixture(const std::string& name) {
  std::string text = ReadFile(testing::DataDir() + "/harmony/" + name);
  while (!text.empty() && std::string_view(" \t\r\n\v\f").find(text.back()) != std::string::npos) {
    text.pop_back();
  }
  return text;
}

// A fixture file of whitespace-separated ids.
inline std::vector<int32_t> FixtureIds(const std::string& name) {
  std::istringstream in(Fixture(name));
  std::vector<int32_t> ids;
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

// The o200k_harmony tokenizer, loaded once; null (with the reason in O200kError()) if it fails.
inline StatusOr<std::unique_ptr<Tokenizer>>& O200kOrError() {
  static StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      Tokenizer::O200kHarmony(testing::DataDir() + "/tokenizer/o200k_base.tiktoken");
  return tokenizer;
}
inline const Tokenizer* O200k() { return O200kOrError().ok() ? O200kOrError()->get() : nullptr; }
inline std::string O200kError() { return O200kOrError().status().ToString(); }

inline HarmonyMessage Msg(Role role, std::string content, std::string channel = "",
                   std::string recipient = "", std::string content_type = "",
                   std::string author = "") {
  HarmonyMessage m;
  m.role = role;
  m.content = std::move(content);
  m.channel = std::move(channel);
  m.recipient = std::move(recipient);
  m.content_type = std::move(content_type);
  m.author_name = std::move(author);
  return m;
}

inline std::string Show(const std::vector<HarmonyMessage>& ms) {
  std::string out;
  for (const auto& m : ms) {
    out += fmt::format("[{} author='{}' to='{}' channel='{}' type='{}' content='{}']\n",
                       HarmonyRoleName(m.role), m.author_name, m.recipient, m.channel,
                       m.content_type, m.content);
  }
  return out;
}

struct Parsed {
  std::vector<HarmonyMessage> messages;
  std::vector<Term> terminators;
  std::vector<HarmonyEvent> events;
  std::vector<Status> statuses;  // non-OK statuses, in order
  size_t anomalies = 0;
};

// Feeds `ids` one token at a time and, separately, as one span; checks both give the same result
// and that the events are consistent with the messages; returns the one-at-a-time result.
inline Parsed Parse(std::span<const int32_t> ids, HarmonyParser::Options options = {}) {
  const Tokenizer& tok = *O200k();
  Parsed one;
  HarmonyParser p1(tok, options);
  for (int32_t id : ids) {
    Status s = p1.Push(id, &one.events);
    if (!s.ok()) one.statuses.push_back(s);
  }
  if (Status s = p1.Finish(&one.events); !s.ok()) one.statuses.push_back(s);
  one.messages = p1.messages();
  one.terminators = p1.terminators();
  one.anomalies = p1.anomaly_count();
  EXPECT_EQ(p1.state(), HarmonyParser::State::kExpectStart);
  EXPECT_EQ(one.messages.size(), one.terminators.size());

  HarmonyParser p2(tok, options);
  std::vector<HarmonyEvent> events2;
  Status s1 = p2.Push(ids, &events2);
  Status s2 = p2.Finish(&events2);
  EXPECT_EQ(p2.messages(), one.messages) << Show(p2.messages()) << "vs\n" << Show(one.messages);
  EXPECT_EQ(p2.terminators(), one.terminators);
  EXPECT_EQ(events2.size(), one.events.size());
  EXPECT_EQ(s1.ok() && s2.ok(), one.statuses.empty());

  // Events: start, deltas, end per message, in order; deltas concatenate to the content.
  std::map<size_t, std::string> text;
  size_t ended = 0;
  bool open = false;
  for (const HarmonyEvent& e : one.events) {
    switch (e.kind) {
      case HarmonyEventKind::kMessageStart:
        EXPECT_FALSE(open);
        EXPECT_EQ(e.message_index, ended);
        EXPECT_TRUE(e.header.content.empty());
        if (ended < one.messages.size()) {
          HarmonyMessage header = one.messages[ended];
          header.content.clear();
          EXPECT_EQ(e.header, header);
        }
        open = true;
        break;
      case HarmonyEventKind::kContentDelta:
        EXPECT_TRUE(open);
        EXPECT_FALSE(e.text.empty());
        EXPECT_EQ(Utf8Sanitize(e.text), e.text);
        text[e.message_index] += e.text;
        break;
      case HarmonyEventKind::kMessageEnd:
        EXPECT_TRUE(open);
        EXPECT_EQ(e.message_index, ended);
        if (ended < one.terminators.size()) {
          EXPECT_EQ(e.terminator, one.terminators[ended]);
        }
        open = false;
        ++ended;
        break;
      case HarmonyEventKind::kStop:
        EXPECT_FALSE(open);
        break;
    }
  }
  EXPECT_FALSE(open);
  EXPECT_EQ(ended, one.messages.size());
  for (size_t i = 0; i < one.messages.size(); ++i) {
    EXPECT_EQ(text[i], one.messages[i].content) << "message " << i;
    EXPECT_EQ(Utf8Sanitize(one.messages[i].content), one.messages[i].content);
  }
  return one;
}

inline Parsed ParseText(std::string_view text, HarmonyParser::Options options = {}) {
  std::vector<int32_t> ids = O200k()->EncodeWithSpecial(text);
  return Parse(ids, options);
}

inline HarmonyParser::Options NoRole() {
  HarmonyParser::Options o;
  o.first_role = std::nullopt;
  return o;
}
inline HarmonyParser::Options Strict(std::optional<Role> role = Role::kAssistant) {
  HarmonyParser::Options o;
  o.first_role = role;
  o.strict = true;
  return o;
}

inline std::vector<int32_t> Concat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

class HarmonyParserTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(O200k(), nullptr) << O200kError(); }
  const Tokenizer& tok() { return *O200k(); }
};

}  // namespace atom::harmony_test
