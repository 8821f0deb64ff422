#include "tokenizer/harmony_render.h"

#include <utility>

#include <fmt/format.h>

namespace atom {
namespace {

constexpr std::string_view kStart = "<|start|>";
constexpr std::string_view kMessage = "<|message|>";
constexpr std::string_view kEnd = "<|end|>";
constexpr std::string_view kReturn = "<|return|>";
constexpr std::string_view kCall = "<|call|>";
constexpr std::string_view kChannel = "<|channel|>";
constexpr std::string_view kConstrain = "<|constrain|>";

class PieceWriter {
 public:
  void Special(std::string_view token) { prompt_.pieces.push_back({true, std::string(token)}); }
  // Empty text encodes to no tokens, so it is left out.
  void Text(std::string text) {
    if (!text.empty()) prompt_.pieces.push_back({false, std::move(text)});
  }
  RenderedPrompt& prompt() { return prompt_; }

 private:
  RenderedPrompt prompt_;
};

std::vector<ToolNamespace> SortedNamespaces(const std::map<std::string, ToolNamespace>& tools) {
  std::vector<ToolNamespace> out;
  for (const auto& [name, ns] : tools) out.push_back(ns);
  return out;
}

std::string JoinStrings(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

StatusOr<std::string> SystemText(const SystemContent& sys, bool has_function_tools) {
  std::vector<std::string> sections;
  std::vector<std::string> top;
  if (sys.model_identity) top.push_back(*sys.model_identity);
  if (sys.knowledge_cutoff) top.push_back("Knowledge cutoff: " + *sys.knowledge_cutoff);
  if (sys.conversation_start_date) top.push_back("Current date: " + *sys.conversation_start_date);
  if (!top.empty()) sections.push_back(JoinStrings(top, "\n"));
  if (sys.reasoning_effort) {
    sections.push_back(fmt::format("Reasoning: {}", ReasoningEffortName(*sys.reasoning_effort)));
  }
  if (!sys.tools.empty()) {
    ATOM_ASSIGN_OR_RETURN(std::string tools, RenderToolsSection(SortedNamespaces(sys.tools)));
    sections.push_back(std::move(tools));
  }
  if (!sys.valid_channels.empty()) {
    std::string channels =
        fmt::format("# Valid channels: {}.", JoinStrings(sys.valid_channels, ", "));
    if (sys.channel_required) channels += " Channel must be included for every message.";
    if (has_function_tools) {
      channels += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    }
    sections.push_back(std::move(channels));
  }
  return JoinStrings(sections, "\n\n");
}

StatusOr<std::string> DeveloperText(const DeveloperContent& dev) {
  std::vector<std::string> sections;
  if (dev.instructions) {
    sections.push_back("# Instructions");
    sections.push_back(*dev.instructions);
  }
  if (!dev.tools.empty()) {
    ATOM_ASSIGN_OR_RETURN(std::string tools, RenderToolsSection(SortedNamespaces(dev.tools)));
    sections.push_back(std::move(tools));
  }
  return JoinStrings(sections, "\n\n");
}

Status RenderText(const HarmonyMessage& m, PieceWriter& w) {
  w.Special(kStart);
  if (m.role == HarmonyRole::kTool) {
    if (m.author_name.empty()) {
      return InvalidArgument("a tool message needs author_name (the tool's name)");
    }
    w.Text(m.author_name);
  } else {
    w.Text(HarmonyRoleName(m.role));
    if (!m.author_name.empty()) w.Text(":" + m.author_name);
  }
  if (!m.recipient.empty() && m.recipient != "all") w.Text(" to=" + m.recipient);
  if (!m.channel.empty()) {
    w.Special(kChannel);
    w.Text(m.channel);
  }
  if (!m.content_type.empty()) {
    if (m.content_type.starts_with(kConstrain)) {
      w.Text(" ");
      w.Special(kConstrain);
      w.Text(m.content_type.substr(kConstrain.size()));
    } else {
      w.Text(" " + m.content_type);
    }
  }
  w.Special(kMessage);
  w.Text(m.content);
  const bool is_call = m.role == HarmonyRole::kAssistant && !m.recipient.empty();
  w.Special(is_call ? kCall : kEnd);
  return OkStatus();
}

Status RenderInto(const ConversationMessage& message, bool has_function_tools, PieceWriter& w) {
  if (const auto* text = std::get_if<HarmonyMessage>(&message)) return RenderText(*text, w);
  w.Special(kStart);
  std::string content;
  if (const auto* sys = std::get_if<SystemContent>(&message)) {
    w.Text("system");
    ATOM_ASSIGN_OR_RETURN(content, SystemText(*sys, has_function_tools));
  } else {
    w.Text("developer");
    ATOM_ASSIGN_OR_RETURN(content, DeveloperText(std::get<DeveloperContent>(message)));
  }
  w.Special(kMessage);
  w.Text(std::move(content));
  w.Special(kEnd);
  return OkStatus();
}

bool HasFunctionTools(const Conversation& conversation) {
  for (const ConversationMessage& m : conversation.messages) {
    const auto* dev = std::get_if<DeveloperContent>(&m);
    if (dev == nullptr) continue;
    auto it = dev->tools.find("functions");
    if (it != dev->tools.end() && !it->second.tools.empty()) return true;
  }
  return false;
}

const HarmonyMessage* AsText(const ConversationMessage& m) {
  return std::get_if<HarmonyMessage>(&m);
}

bool IsOnChannel(const ConversationMessage& m, std::string_view channel) {
  const HarmonyMessage* t = AsText(m);
  return t != nullptr && t->channel == channel;
}

Status RenderAll(const Conversation& conversation, const RenderOptions& options, PieceWriter& w) {
  const auto& messages = conversation.messages;
  // harmony: drop only if the last assistant message is a final answer, and then only the
  // analysis messages before the first final message (of any role).
  bool last_assistant_is_final = false;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    const HarmonyMessage* t = AsText(*it);
    if (t != nullptr && t->role == HarmonyRole::kAssistant) {
      last_assistant_is_final = t->channel == "final";
      break;
    }
  }
  size_t first_final = messages.size();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (IsOnChannel(messages[i], "final")) {
      first_final = i;
      break;
    }
  }
  const bool drop = options.auto_drop_analysis && last_assistant_is_final;
  const bool has_function_tools = HasFunctionTools(conversation);
  for (size_t i = 0; i < messages.size(); ++i) {
    if (drop && i < first_final && IsOnChannel(messages[i], "analysis")) continue;
    Status s = RenderInto(messages[i], has_function_tools, w);
    if (!s.ok()) return s.WithContext(fmt::format("messages[{}]", i));
  }
  return OkStatus();
}

}  // namespace

const char* ReasoningEffortName(ReasoningEffort effort) {
  switch (effort) {
    case ReasoningEffort::kLow: return "low";
    case ReasoningEffort::kMedium: return "medium";
    case ReasoningEffort::kHigh: return "high";
  }
  return "medium";
}

std::optional<ReasoningEffort> ParseReasoningEffort(std::string_view name) {
  if (name == "low") return ReasoningEffort::kLow;
  if (name == "medium") return ReasoningEffort::kMedium;
  if (name == "high") return ReasoningEffort::kHigh;
  return std::nullopt;
}

SystemContent& SystemContent::WithTool(ToolNamespace ns) {
  std::string name = ns.name;
  tools[name] = std::move(ns);
  return *this;
}

DeveloperContent& DeveloperContent::WithTool(ToolNamespace ns) {
  std::string name = ns.name;
  tools[name] = std::move(ns);
  return *this;
}

DeveloperContent& DeveloperContent::WithFunctionTools(std::vector<ToolDescription> function_tools) {
  return WithTool(ToolNamespace{"functions", std::nullopt, std::move(function_tools)});
}

std::string RenderedPrompt::Text() const {
  std::string out;
  for (const RenderedPiece& p : pieces) out += p.text;
  return out;
}

StatusOr<std::vector<int32_t>> RenderedPrompt::Ids(const Tokenizer& tokenizer) const {
  std::vector<int32_t> ids;
  for (const RenderedPiece& p : pieces) {
    if (p.special) {
      std::optional<int32_t> id = tokenizer.SpecialTokenId(p.text);
      if (!id) return InvalidArgument("the tokenizer has no special token {}", p.text);
      ids.push_back(*id);
    } else {
      std::vector<int32_t> piece = tokenizer.Encode(p.text);
      ids.insert(ids.end(), piece.begin(), piece.end());
    }
  }
  return ids;
}

StatusOr<RenderedPrompt> RenderConversation(const Conversation& conversation,
                                            const RenderOptions& options) {
  PieceWriter w;
  ATOM_RETURN_IF_ERROR(RenderAll(conversation, options, w));
  return std::move(w.prompt());
}

StatusOr<RenderedPrompt> RenderConversationForCompletion(const Conversation& conversation,
                                                         HarmonyRole next_role,
                                                         const RenderOptions& options) {
  PieceWriter w;
  ATOM_RETURN_IF_ERROR(RenderAll(conversation, options, w));
  w.Special(kStart);
  w.Text(HarmonyRoleName(next_role));
  return std::move(w.prompt());
}

StatusOr<RenderedPrompt> RenderConversationForTraining(const Conversation& conversation,
                                                       const RenderOptions& options) {
  PieceWriter w;
  ATOM_RETURN_IF_ERROR(RenderAll(conversation, options, w));
  RenderedPrompt& prompt = w.prompt();
  if (!conversation.messages.empty() && !prompt.pieces.empty()) {
    const HarmonyMessage* last = AsText(conversation.messages.back());
    if (last != nullptr && last->role == HarmonyRole::kAssistant && last->channel == "final") {
      prompt.pieces.back() = RenderedPiece{true, std::string(kReturn)};
    }
  }
  return std::move(prompt);
}

StatusOr<RenderedPrompt> RenderMessage(const ConversationMessage& message,
                                       bool conversation_has_function_tools) {
  PieceWriter w;
  ATOM_RETURN_IF_ERROR(RenderInto(message, conversation_has_function_tools, w));
  return std::move(w.prompt());
}

}  // namespace atom
