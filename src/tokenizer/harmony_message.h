// HarmonyMessage: one message of OpenAI's Harmony chat format (spec §6), as the renderer takes
// it and the streaming parser produces it. System and developer messages carry structured
// content on the renderer's side (harmony_render.h); here content is text.
#pragma once

#include <string>

namespace atom {

enum class HarmonyRole { kSystem, kDeveloper, kUser, kAssistant, kTool };

// "system", "developer", "user", "assistant", "tool".
const char* HarmonyRoleName(HarmonyRole role);

struct HarmonyMessage {
  HarmonyRole role = HarmonyRole::kAssistant;
  // kTool: the tool's name as written in the header ("functions.get_weather", "browser.search");
  // other roles: an optional author name ("user:alice"), usually empty.
  std::string author_name;
  std::string recipient;     // "functions.get_weather"; empty = everyone ("all")
  std::string channel;       // "analysis" | "commentary" | "final" | other; empty = none
  std::string content_type;  // "" | "json" | "<|constrain|>json" | "code" ...
  std::string content;       // the message text (UTF-8)

  bool operator==(const HarmonyMessage&) const = default;
};

}  // namespace atom
