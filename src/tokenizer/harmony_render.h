// Harmony conversation model and renderer (spec §6.2-6.7): turns a conversation into the
// prompt gpt-oss expects, byte-for-byte and token-for-token as openai/harmony renders it.
//
// A conversation is a list of messages; a message is a text message (HarmonyMessage) or a
// system / developer message with structured content (SystemContent, DeveloperContent). The
// renderer produces a list of pieces: control tokens (<|start|>, <|channel|>, ...) and ordinary
// text pieces. Each text piece is tokenized on its own with Tokenizer::Encode, exactly as
// harmony does (role, ":name", " to=recipient", channel, content type, content), so a user who
// types "<|start|>" gets ordinary tokens, never the control token.
//
// Rendering rules (harmony src/encoding.rs):
//   <|start|>ROLE[:name][ to=RECIPIENT][<|channel|>CHANNEL][ CTYPE]<|message|>CONTENT END
//   - a tool message writes its name (author_name) instead of the role;
//   - recipient "all" (or empty) is not written;
//   - a content type starting with "<|constrain|>" is written " " <|constrain|> rest;
//   - END is <|call|> for an assistant message with a recipient, else <|end|>;
//   - auto_drop_analysis (on by default): when the LAST assistant message is on the final
//     channel, every analysis message before the FIRST final message is left out;
//   - the system message adds "Calls to these tools must go to the commentary channel:
//     'functions'." when any developer message declares function tools.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "tokenizer/harmony_message.h"
#include "tokenizer/harmony_tools.h"
#include "tokenizer/tokenizer.h"

namespace atom {

enum class ReasoningEffort { kLow, kMedium, kHigh };

// "low", "medium", "high".
const char* ReasoningEffortName(ReasoningEffort effort);
// The inverse of ReasoningEffortName; nullopt for anything else.
std::optional<ReasoningEffort> ParseReasoningEffort(std::string_view name);

inline constexpr const char* kDefaultModelIdentity =
    "You are ChatGPT, a large language model trained by OpenAI.";
inline constexpr const char* kDefaultKnowledgeCutoff = "2024-06";

// The system message: identity, dates, reasoning effort, built-in tools, channels. Defaults are
// harmony's SystemContent::new(). Unset optional fields are left out of the text.
struct SystemContent {
  std::optional<std::string> model_identity = kDefaultModelIdentity;
  std::optional<ReasoningEffort> reasoning_effort = ReasoningEffort::kMedium;
  std::optional<std::string> knowledge_cutoff = kDefaultKnowledgeCutoff;
  std::optional<std::string> conversation_start_date;  // "YYYY-MM-DD"; harmony omits by default
  std::vector<std::string> valid_channels = {"analysis", "commentary", "final"};  // {} = omitted
  bool channel_required = true;
  // Built-in tool namespaces ("browser", "python"), keyed by namespace name; rendered in key
  // order as harmony's BTreeMap does.
  std::map<std::string, ToolNamespace> tools;

  SystemContent& WithTool(ToolNamespace ns);
  SystemContent& WithBrowserTool() { return WithTool(BrowserToolNamespace()); }
  SystemContent& WithPythonTool() { return WithTool(PythonToolNamespace()); }

  bool operator==(const SystemContent&) const = default;
};

// The developer message: the application's instructions (the usual "system prompt") and the
// function tools.
struct DeveloperContent {
  std::optional<std::string> instructions;
  std::map<std::string, ToolNamespace> tools;  // keyed by namespace name, usually "functions"

  DeveloperContent& WithTool(ToolNamespace ns);
  // Sets the "functions" namespace to `tools` (harmony's with_function_tools).
  DeveloperContent& WithFunctionTools(std::vector<ToolDescription> tools);

  bool operator==(const DeveloperContent&) const = default;
};

// A SystemContent renders as a system message, a DeveloperContent as a developer message (no
// recipient, channel or content type), a HarmonyMessage as itself.
using ConversationMessage = std::variant<HarmonyMessage, SystemContent, DeveloperContent>;

struct Conversation {
  std::vector<ConversationMessage> messages;

  bool operator==(const Conversation&) const = default;
};

// One piece of a rendered prompt: a control token (its text, e.g. "<|start|>") or ordinary
// text, tokenized on its own.
struct RenderedPiece {
  bool special = false;
  std::string text;

  bool operator==(const RenderedPiece&) const = default;
};

struct RenderedPrompt {
  std::vector<RenderedPiece> pieces;

  // The pieces concatenated, control tokens written as their strings.
  std::string Text() const;
  // Each text piece encoded separately with tokenizer.Encode, control tokens as their ids.
  // InvalidArgument if the tokenizer lacks one of the control tokens.
  StatusOr<std::vector<int32_t>> Ids(const Tokenizer& tokenizer) const;
};

struct RenderOptions {
  bool auto_drop_analysis = true;
};

// The messages of `conversation`, each ending with <|end|> or <|call|>. Errors name the
// message ("messages[3]: a tool message needs author_name (the tool's name)").
StatusOr<RenderedPrompt> RenderConversation(const Conversation& conversation,
                                            const RenderOptions& options = {});

// RenderConversation followed by <|start|> and `next_role`'s name: the prompt for sampling
// the next message (the model writes its header next, e.g. "<|channel|>analysis<|message|>").
StatusOr<RenderedPrompt> RenderConversationForCompletion(
    const Conversation& conversation, HarmonyRole next_role = HarmonyRole::kAssistant,
    const RenderOptions& options = {});

// RenderConversation, with the last token replaced by <|return|> when the last message is an
// assistant message on the final channel (harmony's render_conversation_for_training).
StatusOr<RenderedPrompt> RenderConversationForTraining(const Conversation& conversation,
                                                       const RenderOptions& options = {});

// One message. `conversation_has_function_tools` adds the "Calls to these tools ..." line to a
// system message (RenderConversation computes it from the developer messages).
StatusOr<RenderedPrompt> RenderMessage(const ConversationMessage& message,
                                       bool conversation_has_function_tools = false);

}  // namespace atom
