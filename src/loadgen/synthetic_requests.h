// Synthetic request bodies for load runs, like vLLM's random dataset: every request gets its own
// random prompt (so the prefix cache finds nothing to share), is streamed with usage, is greedy,
// and ignores EOS so that it generates exactly the requested number of tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace atom::loadgen {

enum class ApiEndpoint { kCompletions, kChatCompletions };

// kChatCompletions for a path ending in "/chat/completions", else kCompletions.
ApiEndpoint EndpointOfPath(const std::string& path);

struct SyntheticRequestOptions {
  ApiEndpoint endpoint = ApiEndpoint::kCompletions;
  std::string model;
  int input_len = 32;   // prompt tokens (completions: exact; chat: about, as words)
  int output_len = 16;  // max_tokens
  uint64_t seed = 0;
};

// Prompt token ids are drawn from this range: ids every large vocabulary has and that are
// ordinary text tokens, not special ones.
inline constexpr int32_t kMinPromptTokenId = 1000;
inline constexpr int32_t kMaxPromptTokenId = 100000;  // exclusive

// The prompt of request `index`: `input_len` ids, deterministic in (seed, index).
std::vector<int32_t> SyntheticPromptTokens(const SyntheticRequestOptions& options, int index);

// The JSON body of request `index`: for completions {"prompt": [ids]}, for chat one user message
// of `input_len` random common words; plus model, max_tokens, temperature 0, ignore_eos,
// stream and stream_options.include_usage.
std::string SyntheticRequestBody(const SyntheticRequestOptions& options, int index);

}  // namespace atom::loadgen
