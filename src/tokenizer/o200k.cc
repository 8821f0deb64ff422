#include "tokenizer/o200k.h"

#include <fmt/format.h>

#include <utility>

namespace atom::tokenizer_internal {

const std::string_view kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n/]*)"
    R"(|\s*[\r\n]+)"
    R"(|\s+(?!\S))"
    R"(|\s+)";

std::vector<SpecialToken> O200kHarmonySpecials() {
  constexpr int32_t kFirst = 199998, kEnd = 201088;
  static constexpr std::pair<int32_t, const char*> kNamed[] = {
      {199998, "<|startoftext|>"}, {199999, "<|endoftext|>"}, {200002, "<|return|>"},
      {200003, "<|constrain|>"},   {200005, "<|channel|>"},   {200006, "<|start|>"},
      {200007, "<|end|>"},         {200008, "<|message|>"},   {200012, "<|call|>"},
      {200018, "<|endofprompt|>"}};
  std::vector<SpecialToken> specials;
  specials.reserve(kEnd - kFirst);
  for (int32_t id = kFirst; id < kEnd; ++id) {
    specials.push_back({fmt::format("<|reserved_{}|>", id), id});
  }
  for (const auto& [id, text] : kNamed) specials[id - kFirst].text = text;
  return specials;
}

}  // namespace atom::tokenizer_internal
