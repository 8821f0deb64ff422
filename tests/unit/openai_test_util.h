// Shared by the OpenAI protocol tests: a server description over the o200k_harmony tokenizer
// with a fixed clock and ids, and engine outputs made from Harmony text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/request_output.h"
#include "server/openai_requests.h"
#include "tokenizer_fixtures.h"

namespace atom::testing {

inline constexpr int64_t kTestCreated = 1700000000;

inline OpenAiServerInfo TestServerInfo(int64_t max_model_len = 4096) {
  OpenAiServerInfo info;
  info.model_name = "gpt-oss-test";
  info.tokenizer = &O200kFromTiktoken();
  info.max_model_len = max_model_len;
  info.chat_stop_token_ids = {199999};  // <|endoftext|>, as a model config's EOS
  info.clock = [] { return kTestCreated; };
  info.make_id = [] { return std::string("test"); };
  return info;
}

// One RequestOutput per `step` tokens of `ids`; the last one finishes with `reason` (and
// `stop_token` = the last id when reason is kStop). Logprobs (when `logprobs` >= 0): token i
// gets logprob -0.5 * (i % 3) and `logprobs` top entries.
inline std::vector<RequestOutput> OutputsFor(const std::vector<int32_t>& ids, size_t step,
                                             FinishReason reason, int logprobs = -1,
                                             int64_t prompt_tokens = 10, int64_t cached = 0) {
  std::vector<RequestOutput> outs;
  for (size_t i = 0; i < ids.size(); i += step) {
    RequestOutput out;
    for (size_t j = i; j < ids.size() && j < i + step; ++j) {
      out.token_ids.push_back(ids[j]);
      if (logprobs >= 0) {
        SampleResult r;
        r.token = ids[j];
        r.logprob = -0.5f * float(j % 3);
        for (int k = 0; k < logprobs; ++k) r.top_logprobs.push_back({int32_t(k + 100), -1.0f * k});
        out.logprobs.push_back(r);
      }
    }
    out.num_prompt_tokens = prompt_tokens;
    out.num_cached_prompt_tokens = cached;
    out.num_output_tokens = int64_t(std::min(ids.size(), i + step));
    outs.push_back(std::move(out));
  }
  if (outs.empty()) outs.emplace_back();
  outs.back().finish_reason = reason;
  if (reason == FinishReason::kStop && !ids.empty()) outs.back().stop_token = ids.back();
  return outs;
}

}  // namespace atom::testing
