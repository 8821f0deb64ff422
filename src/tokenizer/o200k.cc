#include "tokenizer/o200k.h"

#include <fmt/format.h>

namespace atom::tokenizer_internal {

const std::string_view kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n/]*)"
    R"(|\s*[\r\n]+)"
    R"(|\s+(?!\S))"
    R"(|\s+)";

std::vector<SpecialToken> O200kHarmonySpecials() {
  constexpr int32_t kFirst = 199998, kEnd = 201088;
  std::vector<SpecialToken> specials;
  specials.reserve(kEnd - kFirst);
  for (int32_t id = kFirst; id < kEnd; ++id) {
    std::string text;
    switch (id) {
      case 199998: text = "<|startoftext|>"; break;
      case 199999: text = "<|endoftext|>"; break;
      case 200002: text = "<|return|>"; break;
      case 200003: text = "<|constrain|>"; break;
      case 200005: text = "<|channel|>"; break;
      case 200006: text = "<|start|>"; break;
      case 200007: text = "<|end|>"; break;
      case 200008: text = "<|message|>"; break;
      case 200012: text = "<|call|>"; break;
      case 200018: text = "<|endofprompt|>"; break;
      default: text = fmt::format("<|reserved_{}|>", id); break;
    }
    specials.push_back({std::move(text), id});
  }
  return specials;
}

}  // namespace atom::tokenizer_internal
