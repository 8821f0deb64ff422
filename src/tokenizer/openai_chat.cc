#include "tokenizer/openai_chat.h"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace atom {
namespace {

using Json = nlohmann::ordered_json;

// The member `key` of `object`, or nullptr when absent or null. REQUIRES: object.is_object().
const Json* Find(const Json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

Status FieldError(std::string_view path, std::string_view what) {
  return InvalidArgument("{}: {}", path, what);
}

// An optional string field: nullopt when absent or null.
StatusOr<std::optional<std::string>> OptionalString(const Json& object, std::string_view key,
                                                    std::string_view path) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return FieldError(path, "must be a string");
  return std::optional<std::string>(v->get<std::string>());
}

// Function names go into headers ("to=functions.NAME"), so they must be one header word.
Status CheckFunctionName(const std::string& name, std::string_view path) {
  if (name.empty() || name.size() > 64) return FieldError(path, "must be 1 to 64 characters");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return FieldError(path, fmt::format("\"{}\" may only contain letters, digits, '_' and '-'",
                                          name));
    }
  }
  return OkStatus();
}

StatusOr<std::string> RequiredName(const Json& function, std::string_view path) {
  const std::string name_path = fmt::format("{}.name", path);
  const Json* name = Find(function, "name");
  if (name == nullptr) return FieldError(name_path, "required");
  if (!name->is_string()) return FieldError(name_path, "must be a string");
  std::string s = name->get<std::string>();
  ATOM_RETURN_IF_ERROR(CheckFunctionName(s, name_path));
  return s;
}

// A message's content: nullopt when absent or null; a string; or text parts joined with "\n".
StatusOr<std::optional<std::string>> ContentText(const Json& message, std::string_view path) {
  const Json* content = Find(message, "content");
  if (content == nullptr) return std::optional<std::string>();
  if (content->is_string()) return std::optional<std::string>(content->get<std::string>());
  if (!content->is_array()) {
    return FieldError(path, "must be a string, an array of content parts or null");
  }
  std::string text;
  for (size_t i = 0; i < content->size(); ++i) {
    const Json& part = (*content)[i];
    const std::string part_path = fmt::format("{}[{}]", path, i);
    if (!part.is_object()) return FieldError(part_path, "must be an object");
    const Json* type = Find(part, "type");
    if (type == nullptr) return FieldError(part_path + ".type", "required");
    if (!type->is_string() || *type != "text") {
      return FieldError(part_path + ".type", fmt::format("unsupported content part type {} "
                                                         "(only \"text\")", type->dump()));
    }
    const Json* part_text = Find(part, "text");
    if (part_text == nullptr || !part_text->is_string()) {
      return FieldError(part_path + ".text", "must be a string");
    }
    if (i > 0) text += '\n';
    text += part_text->get<std::string>();
  }
  return std::optional<std::string>(std::move(text));
}

HarmonyMessage Message(HarmonyRole role, std::string content, std::string channel = "") {
  HarmonyMessage m;
  m.role = role;
  m.content = std::move(content);
  m.channel = std::move(channel);
  return m;
}

struct ToolChoice {
  enum Kind { kAuto, kNone, kRequired, kNamed } kind = kAuto;
  std::string name;  // kNamed
};

StatusOr<ToolChoice> ParseToolChoice(const Json& request) {
  const Json* v = Find(request, "tool_choice");
  if (v == nullptr) return ToolChoice{};
  if (v->is_string()) {
    if (*v == "auto") return ToolChoice{ToolChoice::kAuto, ""};
    if (*v == "none") return ToolChoice{ToolChoice::kNone, ""};
    if (*v == "required") return ToolChoice{ToolChoice::kRequired, ""};
  } else if (v->is_object()) {
    const Json* type = Find(*v, "type");
    if (type == nullptr || *type != "function") {
      return FieldError("tool_choice.type", "must be \"function\"");
    }
    const Json* function = Find(*v, "function");
    if (function == nullptr || !function->is_object()) {
      return FieldError("tool_choice.function", "must be an object");
    }
    ATOM_ASSIGN_OR_RETURN(std::string name, RequiredName(*function, "tool_choice.function"));
    return ToolChoice{ToolChoice::kNamed, std::move(name)};
  }
  return FieldError("tool_choice",
                    "must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                    "\"function\": {\"name\": ...}}");
}

StatusOr<std::vector<ToolDescription>> ParseTools(const Json& request) {
  std::vector<ToolDescription> tools;
  const Json* v = Find(request, "tools");
  if (v == nullptr) return tools;
  if (!v->is_array()) return FieldError("tools", "must be an array");
  std::set<std::string> names;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& tool = (*v)[i];
    const std::string path = fmt::format("tools[{}]", i);
    if (!tool.is_object()) return FieldError(path, "must be an object");
    const Json* type = Find(tool, "type");
    if (type != nullptr && *type != "function") {
      return FieldError(path + ".type",
                        fmt::format("unsupported tool type {} (only \"function\")", type->dump()));
    }
    const Json* function = Find(tool, "function");
    if (function == nullptr) return FieldError(path + ".function", "required");
    if (!function->is_object()) return FieldError(path + ".function", "must be an object");
    ToolDescription desc;
    ATOM_ASSIGN_OR_RETURN(desc.name, RequiredName(*function, path + ".function"));
    if (!names.insert(desc.name).second) {
      return FieldError(path + ".function.name",
                        fmt::format("duplicate tool name \"{}\"", desc.name));
    }
    ATOM_ASSIGN_OR_RETURN(std::optional<std::string> description,
                          OptionalString(*function, "description", path + ".function.description"));
    desc.description = description.value_or("");
    if (const Json* params = Find(*function, "parameters")) {
      const std::string params_path = path + ".function.parameters";
      if (!params->is_object()) return FieldError(params_path, "must be a JSON Schema object");
      ATOM_RETURN_IF_ERROR(ValidateToolSchema(*params, params_path));
      desc.parameters = *params;
    }
    tools.push_back(std::move(desc));
  }
  return tools;
}

StatusOr<SystemContent> ParseSystem(const Json& request, const OpenAiChatOptions& options) {
  SystemContent sys;
  sys.reasoning_effort = options.reasoning_effort;
  sys.conversation_start_date = options.conversation_start_date;
  ATOM_ASSIGN_OR_RETURN(auto effort,
                        OptionalString(request, "reasoning_effort", "reasoning_effort"));
  if (effort) {
    sys.reasoning_effort = ParseReasoningEffort(*effort);
    if (!sys.reasoning_effort) {
      return FieldError(
          "reasoning_effort",
          fmt::format("must be \"low\", \"medium\" or \"high\", got \"{}\"", *effort));
    }
  }
  for (auto [key, field] : {std::pair{"model_identity", &sys.model_identity},
                            std::pair{"knowledge_cutoff", &sys.knowledge_cutoff},
                            std::pair{"conversation_start_date", &sys.conversation_start_date}}) {
    ATOM_ASSIGN_OR_RETURN(auto value, OptionalString(request, key, key));
    if (value) *field = std::move(value);
  }
  if (const Json* builtin = Find(request, "builtin_tools")) {
    if (!builtin->is_array()) return FieldError("builtin_tools", "must be an array");
    for (size_t i = 0; i < builtin->size(); ++i) {
      const Json& name = (*builtin)[i];
      if (name == "browser") {
        sys.WithBrowserTool();
      } else if (name == "python") {
        sys.WithPythonTool();
      } else {
        return FieldError(fmt::format("builtin_tools[{}]", i),
                          fmt::format("unknown built-in tool {} (\"browser\" or \"python\")",
                                      name.dump()));
      }
    }
  }
  return sys;
}

// Turns the messages into Harmony messages; system/developer texts go to `instructions`.
class MessageConverter {
 public:
  MessageConverter(const Json& messages, const OpenAiChatOptions& options)
      : messages_(messages), options_(options) {}

  Status Run() {
    // final_after[i]: message i or a later one is a final answer (assistant, no tool calls).
    std::vector<bool> final_after(messages_.size() + 1, false);
    for (size_t i = messages_.size(); i-- > 0;) {
      const Json& m = messages_[i];
      const Json* role = m.is_object() ? Find(m, "role") : nullptr;
      const Json* calls = m.is_object() ? Find(m, "tool_calls") : nullptr;
      const bool has_calls = calls != nullptr && calls->is_array() && !calls->empty();
      const bool is_final = role != nullptr && *role == "assistant" && !has_calls;
      final_after[i] = final_after[i + 1] || is_final;
    }
    for (size_t i = 0; i < messages_.size(); ++i) {
      ATOM_RETURN_IF_ERROR(Convert(i, final_after[i + 1]));
    }
    return OkStatus();
  }

  std::vector<std::string>& instructions() { return instructions_; }
  std::vector<HarmonyMessage>& out() { return out_; }

 private:
  Status Convert(size_t i, bool final_later) {
    const std::string path = fmt::format("messages[{}]", i);
    const Json& m = messages_[i];
    if (!m.is_object()) return FieldError(path, "must be an object");
    const Json* role = Find(m, "role");
    if (role == nullptr) return FieldError(path + ".role", "required");
    if (!role->is_string()) return FieldError(path + ".role", "must be a string");
    const std::string& r = role->get_ref<const std::string&>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool") {
      return FieldError(path + ".role", fmt::format("unknown role {}", role->dump()));
    }
    const std::string content_path = path + ".content";
    ATOM_ASSIGN_OR_RETURN(std::optional<std::string> content, ContentText(m, content_path));
    if (r == "assistant") return Assistant(m, path, std::move(content), final_later);
    if (!content) return FieldError(content_path, "required");
    if (r == "user") {
      out_.push_back(Message(HarmonyRole::kUser, std::move(*content)));
    } else if (r == "tool") {
      return Tool(m, path, std::move(*content));
    } else {  // system, developer
      instructions_.push_back(std::move(*content));
    }
    return OkStatus();
  }

  Status Assistant(const Json& m, const std::string& path, std::optional<std::string> content,
                   bool final_later) {
    std::optional<std::string> reasoning;
    for (const char* key : {"reasoning_content", "reasoning"}) {
      ATOM_ASSIGN_OR_RETURN(reasoning, OptionalString(m, key, path + "." + key));
      if (reasoning) break;
    }
    const Json* calls = Find(m, "tool_calls");
    if (calls != nullptr && !calls->is_array()) {
      return FieldError(path + ".tool_calls", "must be an array");
    }
    const bool has_calls = calls != nullptr && !calls->empty();
    // Clients send "" for "nothing" (a tool-call message's content, an empty reasoning).
    if (reasoning && reasoning->empty()) reasoning.reset();
    if (has_calls && content && content->empty()) content.reset();
    if (!content && !reasoning && !has_calls) {
      return FieldError(path, "an assistant message needs content, reasoning_content or "
                              "tool_calls");
    }
    std::vector<HarmonyMessage> call_messages;
    if (calls != nullptr) {
      for (size_t j = 0; j < calls->size(); ++j) {
        ATOM_ASSIGN_OR_RETURN(HarmonyMessage call,
                              ToolCall((*calls)[j], fmt::format("{}.tool_calls[{}]", path, j)));
        call_messages.push_back(std::move(call));
      }
    }
    const bool keep_reasoning = !options_.drop_past_reasoning || (has_calls && !final_later);
    if (reasoning && keep_reasoning) {
      out_.push_back(Message(HarmonyRole::kAssistant, std::move(*reasoning), "analysis"));
    }
    if (content) {
      const char* channel = has_calls ? "commentary" : "final";
      out_.push_back(Message(HarmonyRole::kAssistant, std::move(*content), channel));
    }
    for (HarmonyMessage& call : call_messages) out_.push_back(std::move(call));
    return OkStatus();
  }

  StatusOr<HarmonyMessage> ToolCall(const Json& call, const std::string& path) {
    if (!call.is_object()) return FieldError(path, "must be an object");
    const Json* type = Find(call, "type");
    if (type != nullptr && *type != "function") {
      return FieldError(path + ".type", fmt::format("unsupported tool call type {} (only "
                                                    "\"function\")", type->dump()));
    }
    const Json* function = Find(call, "function");
    if (function == nullptr) return FieldError(path + ".function", "required");
    if (!function->is_object()) return FieldError(path + ".function", "must be an object");
    ATOM_ASSIGN_OR_RETURN(std::string name, RequiredName(*function, path + ".function"));
    const std::string args_path = path + ".function.arguments";
    const Json* args = Find(*function, "arguments");
    std::string arguments;
    if (args == nullptr) {
      arguments = "{}";
    } else if (args->is_string()) {
      arguments = args->get<std::string>();
      if (arguments.empty()) arguments = "{}";
      if (!Json::accept(arguments)) return FieldError(args_path, "not valid JSON");
    } else if (args->is_object()) {
      arguments = args->dump(-1, ' ', false, Json::error_handler_t::replace);
    } else {
      return FieldError(args_path, "must be a string of JSON or an object");
    }
    ATOM_ASSIGN_OR_RETURN(std::optional<std::string> id, OptionalString(call, "id", path + ".id"));
    if (id) call_names_[*id] = name;
    HarmonyMessage m = Message(HarmonyRole::kAssistant, std::move(arguments), "commentary");
    m.recipient = "functions." + name;
    m.content_type = "<|constrain|>json";
    return m;
  }

  Status Tool(const Json& m, const std::string& path, std::string content) {
    ATOM_ASSIGN_OR_RETURN(std::optional<std::string> id,
                          OptionalString(m, "tool_call_id", path + ".tool_call_id"));
    std::string name;
    if (id) {
      auto it = call_names_.find(*id);
      if (it == call_names_.end()) {
        return FieldError(path + ".tool_call_id",
                          fmt::format("no earlier assistant tool call has id \"{}\"", *id));
      }
      name = it->second;
    } else {
      ATOM_ASSIGN_OR_RETURN(std::optional<std::string> n,
                            OptionalString(m, "name", path + ".name"));
      if (!n) return FieldError(path + ".tool_call_id", "required");
      ATOM_RETURN_IF_ERROR(CheckFunctionName(*n, path + ".name"));
      name = std::move(*n);
    }
    HarmonyMessage result = Message(HarmonyRole::kTool, std::move(content), "commentary");
    result.author_name = "functions." + name;
    result.recipient = "assistant";
    out_.push_back(std::move(result));
    return OkStatus();
  }

  const Json& messages_;
  const OpenAiChatOptions& options_;
  std::vector<std::string> instructions_;
  std::vector<HarmonyMessage> out_;
  std::map<std::string, std::string> call_names_;  // tool call id -> function name
};

std::string JoinParagraphs(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += "\n\n";
    out += parts[i];
  }
  return out;
}

}  // namespace

StatusOr<Conversation> OpenAiChatToConversation(const nlohmann::ordered_json& request,
                                                const OpenAiChatOptions& options) {
  if (!request.is_object()) return FieldError("request", "must be a JSON object");
  ATOM_ASSIGN_OR_RETURN(SystemContent sys, ParseSystem(request, options));
  ATOM_ASSIGN_OR_RETURN(std::vector<ToolDescription> tools, ParseTools(request));
  ATOM_ASSIGN_OR_RETURN(ToolChoice choice, ParseToolChoice(request));
  if (choice.kind == ToolChoice::kRequired && tools.empty()) {
    return FieldError("tool_choice", "\"required\" but the request has no tools");
  }
  if (choice.kind == ToolChoice::kNamed) {
    bool found = false;
    for (const ToolDescription& t : tools) found = found || t.name == choice.name;
    if (!found) {
      return FieldError("tool_choice.function.name",
                        fmt::format("no tool named \"{}\" in tools", choice.name));
    }
  }

  const Json* messages = Find(request, "messages");
  if (messages == nullptr) return FieldError("messages", "required");
  if (!messages->is_array()) return FieldError("messages", "must be an array");
  if (messages->empty()) return FieldError("messages", "must not be empty");
  MessageConverter converter(*messages, options);
  ATOM_RETURN_IF_ERROR(converter.Run());

  std::vector<std::string>& instructions = converter.instructions();
  if (choice.kind == ToolChoice::kRequired) {
    instructions.push_back(kToolChoiceRequiredInstruction);
  } else if (choice.kind == ToolChoice::kNamed) {
    instructions.push_back(fmt::format(fmt::runtime(kToolChoiceNamedInstruction), choice.name));
  }
  const bool show_tools = !tools.empty() && choice.kind != ToolChoice::kNone;

  Conversation conversation;
  conversation.messages.push_back(std::move(sys));
  if (!instructions.empty() || show_tools) {
    DeveloperContent dev;
    if (!instructions.empty()) dev.instructions = JoinParagraphs(instructions);
    if (show_tools) dev.WithFunctionTools(std::move(tools));
    conversation.messages.push_back(std::move(dev));
  }
  for (HarmonyMessage& m : converter.out()) conversation.messages.push_back(std::move(m));
  return conversation;
}

StatusOr<Conversation> OpenAiChatTextToConversation(std::string_view request_json,
                                                    const OpenAiChatOptions& options) {
  Json request = Json::parse(request_json, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return FieldError("request", "not valid JSON");
  return OpenAiChatToConversation(request, options);
}

}  // namespace atom
