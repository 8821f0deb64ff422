// libFuzzer target: arbitrary bytes as the body of /v1/chat/completions, /v1/completions,
// /tokenize and /detokenize. Parsing must never crash; an error must be a 4xx or 5xx ApiError
// whose JSON body parses; a parsed request must be internally consistent (prompts within the
// vocabulary and shorter than the context, validated sampling parameters), and the response
// builders (whole and streaming) must handle token ids taken from the input. Aborts otherwise.
//
// The o200k ranks file comes from $ATOM_TOKENIZER_RANKS, else the path baked in at build time.
//   build/fuzz/tools/fuzz/openai_request_fuzz -max_total_time=120 CORPUS_DIR \
//       tests/data/fuzz/openai_requests
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/openai_requests.h"
#include "server/openai_responses.h"
#include "server/openai_stream.h"
#include "tokenizer/tokenizer.h"

namespace {

std::unique_ptr<atom::Tokenizer> g_tokenizer;
atom::OpenAiServerInfo* g_info = nullptr;

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "openai_request_fuzz: %s (input of %zu bytes)\n", what, input.size());
  std::abort();
}

void CheckError(const atom::ApiError& e, std::string_view input) {
  if (e.status < 400 || e.status > 599 || e.message.empty()) Fail("malformed ApiError", input);
  const auto body = nlohmann::json::parse(atom::ToJson(e), nullptr, false);
  if (body.is_discarded()) Fail("ApiError body is not JSON", input);
}

void CheckRequest(const atom::ApiResult<atom::OpenAiRequest>& r, std::string_view input) {
  if (!r.ok()) return CheckError(r.error(), input);
  const atom::OpenAiRequest& req = r.value();
  const atom::Tokenizer& tok = *g_tokenizer;
  if (req.prompts.empty()) Fail("no prompt", input);
  for (const auto& p : req.prompts) {
    if (p.empty() || int64_t(p.size()) >= g_info->max_model_len) Fail("prompt length", input);
    for (int32_t id : p) {
      if (id < 0 || id >= tok.vocab_size()) Fail("prompt id outside the vocabulary", input);
    }
  }
  if (!req.params.Validate(tok.vocab_size()).ok()) Fail("invalid sampling params", input);

  // Output ids from the input bytes (biased toward Harmony's special tokens).
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < input.size() && ids.size() < 64; i += 2) {
    const int v = (uint8_t(input[i]) << 8) | uint8_t(input[i + 1]);
    ids.push_back(v % 4 == 0 ? 199998 + (v >> 2) % 20 : v % tok.vocab_size());
  }
  const int choices = std::min(req.num_choices(), 4);
  for (int c = 0; c < choices; ++c) {
    atom::SequenceResult whole;
    atom::RequestOutput out;
    out.token_ids = ids;
    out.finish_reason = c % 2 == 0 ? atom::FinishReason::kStop : atom::FinishReason::kLength;
    if (req.logprobs()) out.logprobs.resize(ids.size());
    whole.Append(out);
    std::vector<atom::SequenceResult> all(size_t(req.num_choices()), whole);
    const nlohmann::json j = req.endpoint == atom::OpenAiEndpoint::kChatCompletions
                                 ? atom::BuildChatCompletion(req, tok, all)
                                 : atom::BuildCompletion(req, tok, all);
    (void)atom::DumpJson(j);
    if (req.endpoint == atom::OpenAiEndpoint::kChatCompletions) {
      atom::ChatStreamEncoder encoder(req, tok, c);
      (void)encoder.Push(out);
    } else {
      atom::CompletionStreamEncoder encoder(req, tok, c);
      (void)encoder.Push(out);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("ATOM_TOKENIZER_RANKS");
  const std::string path = env != nullptr ? env : ATOM_TOKENIZER_RANKS_DEFAULT;
  auto t = atom::Tokenizer::O200kHarmony(path);
  if (!t.ok()) {
    std::fprintf(stderr, "openai_request_fuzz: %s\n", t.status().ToString().c_str());
    std::abort();
  }
  g_tokenizer = std::move(t).value();
  g_info = new atom::OpenAiServerInfo();
  g_info->model_name = "gpt-oss-test";
  g_info->tokenizer = g_tokenizer.get();
  g_info->max_model_len = 2048;
  g_info->chat_stop_token_ids = {199999};
  g_info->clock = [] { return int64_t(1700000000); };
  g_info->make_id = [] { return std::string("fuzz"); };
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckRequest(atom::ParseChatCompletionRequest(input, *g_info), input);
  CheckRequest(atom::ParseCompletionRequest(input, *g_info), input);
  for (const auto& r : {atom::HandleTokenize(input, *g_info),
                        atom::HandleDetokenize(input, *g_info)}) {
    if (!r.ok()) {
      CheckError(r.error(), input);
    } else {
      (void)atom::DumpJson(r.value());
    }
  }
  return 0;
}
