#include "loadgen/synthetic_requests.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>

namespace atom::loadgen {

namespace {

// Short common words, each one token in the usual BPE vocabularies (with its leading space).
constexpr std::array<std::string_view, 64> kWords = {
    "time",    "year",    "people",   "way",    "day",    "man",     "thing",   "woman",
    "life",    "child",   "world",    "school", "state",  "family",  "student", "group",
    "country", "problem", "hand",     "part",   "place",  "case",    "week",    "company",
    "system",  "program", "question", "work",   "number", "night",   "point",   "home",
    "water",   "room",    "mother",   "area",   "money",  "story",   "fact",    "month",
    "lot",     "right",   "study",    "book",   "eye",    "job",     "word",    "business",
    "issue",   "side",    "kind",     "head",   "house",  "service", "friend",  "father",
    "power",   "hour",    "game",     "line",   "end",    "member",  "law",     "car"};

// A generator for request `index` whose stream does not depend on other requests.
std::mt19937_64 RequestRng(uint64_t seed, int index) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(index)};
  return std::mt19937_64(seq);
}

}  // namespace

ApiEndpoint EndpointOfPath(const std::string& path) {
  return path.ends_with("/chat/completions") ? ApiEndpoint::kChatCompletions
                                             : ApiEndpoint::kCompletions;
}

std::vector<int32_t> SyntheticPromptTokens(const SyntheticRequestOptions& options, int index) {
  std::mt19937_64 rng = RequestRng(options.seed, index);
  std::uniform_int_distribution<int32_t> id(kMinPromptTokenId, kMaxPromptTokenId - 1);
  std::vector<int32_t> tokens(size_t(std::max(options.input_len, 0)));
  for (int32_t& t : tokens) t = id(rng);
  return tokens;
}

std::string SyntheticRequestBody(const SyntheticRequestOptions& options, int index) {
  nlohmann::json body = nlohmann::json::object();
  body["model"] = options.model;
  if (options.endpoint == ApiEndpoint::kCompletions) {
    body["prompt"] = SyntheticPromptTokens(options, index);
  } else {
    std::mt19937_64 rng = RequestRng(options.seed, index);
    std::uniform_int_distribution<size_t> pick(0, kWords.size() - 1);
    std::string text;
    for (int i = 0; i < options.input_len; ++i) {
      if (i > 0) text += ' ';
      text += kWords[pick(rng)];
    }
    body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", text}}});
  }
  body["max_tokens"] = options.output_len;
  body["temperature"] = 0;
  body["ignore_eos"] = true;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  return body.dump();
}

}  // namespace atom::loadgen
