// Replays the OpenAI request fuzz corpus (tests/data/fuzz/openai_requests) through the parsers in
// the normal build. chat_valid_* / completion_valid_* must parse as that endpoint's request;
// chat_invalid_* / completion_invalid_* must be refused with a 4xx OpenAI error; every file is
// also fed to every parser (and, when it parses, to the response builders), which must return.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "openai_test_util.h"
#include "server/openai_requests.h"
#include "server/openai_responses.h"
#include "server/openai_stream.h"

namespace atom {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> CorpusFiles() {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(testing::DataDir()) / "fuzz" / "openai_requests";
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void CheckOutcome(const std::string& name, const std::string& prefix,
                  const ApiResult<OpenAiRequest>& r, int* valid, int* invalid) {
  if (name.starts_with(prefix + "_valid_")) {
    ++*valid;
    EXPECT_TRUE(r.ok()) << name << ": " << (r.ok() ? "" : ToJson(r.error()));
  } else if (name.starts_with(prefix + "_invalid_")) {
    ++*invalid;
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_TRUE(r.error().status == 400 || r.error().status == 404) << name;
    EXPECT_FALSE(r.error().message.empty()) << name;
    EXPECT_FALSE(nlohmann::json::parse(ToJson(r.error()), nullptr, false).is_discarded());
  }
}

TEST(OpenAiRequestCorpus, EveryFileReturns) {
  const OpenAiServerInfo info = testing::TestServerInfo();
  const Tokenizer& tok = *info.tokenizer;
  const std::vector<fs::path> files = CorpusFiles();
  ASSERT_GE(files.size(), 20u);
  int valid = 0, invalid = 0;
  for (const fs::path& path : files) {
    const std::string name = path.filename().string();
    SCOPED_TRACE(name);
    const std::string body = ReadFile(path);
    const ApiResult<OpenAiRequest> chat = ParseChatCompletionRequest(body, info);
    const ApiResult<OpenAiRequest> completion = ParseCompletionRequest(body, info);
    (void)HandleTokenize(body, info);
    (void)HandleDetokenize(body, info);
    CheckOutcome(name, "chat", chat, &valid, &invalid);
    CheckOutcome(name, "completion", completion, &valid, &invalid);
    for (const ApiResult<OpenAiRequest>* r : {&chat, &completion}) {
      if (!r->ok()) continue;
      const OpenAiRequest& req = r->value();
      // Every choice answers with the same few tokens, finished by length.
      const std::vector<int32_t> ids = tok.EncodeWithSpecial("<|channel|>final<|message|>Hi");
      std::vector<SequenceResult> results(size_t(req.num_choices()));
      for (SequenceResult& s : results) {
        for (const RequestOutput& o : testing::OutputsFor(ids, 1, FinishReason::kLength,
                                                          req.top_logprobs())) {
          s.Append(o);
        }
      }
      const nlohmann::json whole = req.endpoint == OpenAiEndpoint::kChatCompletions
                                       ? BuildChatCompletion(req, tok, results)
                                       : BuildCompletion(req, tok, results);
      EXPECT_EQ(whole["choices"].size(), size_t(req.num_choices()));
      EXPECT_FALSE(DumpJson(whole).empty());
    }
  }
  EXPECT_GE(valid, 8);
  EXPECT_GE(invalid, 12);
}

}  // namespace
}  // namespace atom
