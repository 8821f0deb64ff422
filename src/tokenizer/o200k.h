// o200k_harmony's constants (spec §5.2, §5.4).
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace atom::tokenizer_internal {

// The o200k pre-tokenizer regex, byte for byte tests/data/tokenizer/o200k_pattern.txt.
extern const std::string_view kO200kPattern;

// gpt-oss's special tokens, ids 199998..201087; unused ids are named "<|reserved_N|>".
std::vector<SpecialToken> O200kHarmonySpecials();

}  // namespace atom::tokenizer_internal
