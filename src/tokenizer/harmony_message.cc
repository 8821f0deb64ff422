#include "tokenizer/harmony_message.h"

namespace atom {

const char* HarmonyRoleName(HarmonyRole role) {
  switch (role) {
    case HarmonyRole::kSystem: return "system";
    case HarmonyRole::kDeveloper: return "developer";
    case HarmonyRole::kUser: return "user";
    case HarmonyRole::kAssistant: return "assistant";
    case HarmonyRole::kTool: return "tool";
  }
  return "?";
}

}  // namespace atom
