#include "engine/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace atom {
namespace {

constexpr int64_t kVocab = 1000;
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Validate() of the defaults changed by `edit`.
Status ValidateWith(const std::function<void(SamplingParams&)>& edit) {
  SamplingParams p;
  edit(p);
  return p.Validate(kVocab);
}

// Expects InvalidArgument whose message contains `fragment`.
void ExpectInvalid(const std::function<void(SamplingParams&)>& edit, const std::string& fragment) {
  const Status s = ValidateWith(edit);
  ASSERT_FALSE(s.ok()) << "expected an error containing '" << fragment << "'";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

void ExpectValid(const std::function<void(SamplingParams&)>& edit) {
  const Status s = ValidateWith(edit);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(SamplingParamsTest, DefaultsAreValidAndOff) {
  SamplingParams p;
  EXPECT_TRUE(p.Validate(kVocab).ok());
  EXPECT_FALSE(p.greedy());
  EXPECT_FALSE(p.has_penalties());
  EXPECT_FALSE(p.top_k_enabled(kVocab));
  EXPECT_TRUE(p.skip_special_tokens);
  EXPECT_FALSE(p.include_stop_str_in_output);
}

TEST(SamplingParamsTest, N) {
  ExpectValid([](SamplingParams& p) { p.n = 4; });
  ExpectInvalid([](SamplingParams& p) { p.n = 0; }, "n must be >= 1, got 0");
}

TEST(SamplingParamsTest, Temperature) {
  ExpectValid([](SamplingParams& p) { p.temperature = 0; });
  ExpectValid([](SamplingParams& p) { p.temperature = 5; });
  ExpectInvalid([](SamplingParams& p) { p.temperature = -0.5f; }, "temperature must be finite");
  ExpectInvalid([](SamplingParams& p) { p.temperature = kNan; }, "temperature");
  ExpectInvalid([](SamplingParams& p) { p.temperature = kInf; }, "temperature");
  SamplingParams p;
  p.temperature = 0;
  EXPECT_TRUE(p.greedy());
}

TEST(SamplingParamsTest, TopP) {
  ExpectValid([](SamplingParams& p) { p.top_p = 1.0f; });
  ExpectValid([](SamplingParams& p) { p.top_p = 1e-6f; });
  ExpectInvalid([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p must be in (0, 1], got 1.5");
  ExpectInvalid([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p must be in (0, 1], got 0");
  ExpectInvalid([](SamplingParams& p) { p.top_p = kNan; }, "top_p");
}

TEST(SamplingParamsTest, TopK) {
  ExpectValid([](SamplingParams& p) { p.top_k = -1; });
  ExpectValid([](SamplingParams& p) { p.top_k = 0; });
  ExpectValid([](SamplingParams& p) { p.top_k = 1; });
  ExpectValid([](SamplingParams& p) { p.top_k = 5000; });  // beyond the vocabulary = off
  ExpectInvalid([](SamplingParams& p) { p.top_k = -2; }, "top_k must be -1 or 0 (off) or >= 1");
  SamplingParams p;
  p.top_k = 50;
  EXPECT_TRUE(p.top_k_enabled(kVocab));
  p.top_k = int(kVocab);
  EXPECT_FALSE(p.top_k_enabled(kVocab));
  p.top_k = -1;
  EXPECT_FALSE(p.top_k_enabled(kVocab));
}

TEST(SamplingParamsTest, MinP) {
  ExpectValid([](SamplingParams& p) { p.min_p = 0; });
  ExpectValid([](SamplingParams& p) { p.min_p = 1; });
  ExpectInvalid([](SamplingParams& p) { p.min_p = -0.1f; }, "min_p must be in [0, 1]");
  ExpectInvalid([](SamplingParams& p) { p.min_p = 1.1f; }, "min_p must be in [0, 1], got 1.1");
  ExpectInvalid([](SamplingParams& p) { p.min_p = kNan; }, "min_p");
}

TEST(SamplingParamsTest, Penalties) {
  ExpectValid([](SamplingParams& p) { p.repetition_penalty = 1.3f; });
  ExpectValid([](SamplingParams& p) {
    p.presence_penalty = -2;
    p.frequency_penalty = 2;
  });
  ExpectInvalid([](SamplingParams& p) { p.repetition_penalty = 0; },
                "repetition_penalty must be finite and > 0, got 0");
  ExpectInvalid([](SamplingParams& p) { p.repetition_penalty = kInf; }, "repetition_penalty");
  ExpectInvalid([](SamplingParams& p) { p.presence_penalty = 2.5f; },
                "presence_penalty must be in [-2, 2], got 2.5");
  ExpectInvalid([](SamplingParams& p) { p.presence_penalty = kNan; }, "presence_penalty");
  ExpectInvalid([](SamplingParams& p) { p.frequency_penalty = -3; },
                "frequency_penalty must be in [-2, 2], got -3");
  SamplingParams p;
  p.frequency_penalty = 0.5f;
  EXPECT_TRUE(p.has_penalties());
}

TEST(SamplingParamsTest, LogitBias) {
  ExpectValid([](SamplingParams& p) { p.logit_bias = {{0, -100}, {999, 100}}; });
  ExpectInvalid(
      [](SamplingParams& p) {
        p.logit_bias = {{1000, 1}};
      },
      "logit_bias: token id 1000 is outside the vocabulary [0, 1000)");
  ExpectInvalid([](SamplingParams& p) { p.logit_bias = {{-1, 1}}; }, "token id -1");
  ExpectInvalid(
      [](SamplingParams& p) {
        p.logit_bias = {{7, 100.5f}};
      },
      "logit_bias: the bias of token 7 must be in [-100, 100], got 100.5");
  ExpectInvalid([](SamplingParams& p) { p.logit_bias = {{7, kNan}}; }, "bias of token 7");
}

TEST(SamplingParamsTest, MaxAndMinTokens) {
  ExpectValid([](SamplingParams& p) { p.max_tokens = 1; });
  ExpectValid([](SamplingParams& p) {
    p.max_tokens = 10;
    p.min_tokens = 10;
  });
  ExpectValid([](SamplingParams& p) { p.min_tokens = 50; });  // no max: until the context
  ExpectInvalid([](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens must be >= 1, got 0");
  ExpectInvalid([](SamplingParams& p) { p.min_tokens = -1; }, "min_tokens must be >= 0, got -1");
  ExpectInvalid(
      [](SamplingParams& p) {
        p.max_tokens = 4;
        p.min_tokens = 5;
      },
      "min_tokens (5) must be <= max_tokens (4)");
}

TEST(SamplingParamsTest, StopTokenIds) {
  ExpectValid([](SamplingParams& p) { p.stop_token_ids = {0, 999}; });
  ExpectInvalid(
      [](SamplingParams& p) {
        p.stop_token_ids = {3, 1000};
      },
      "stop_token_ids[1]: token id 1000 is outside the vocabulary [0, 1000)");
  ExpectInvalid([](SamplingParams& p) { p.stop_token_ids = {-5}; }, "stop_token_ids[0]");
}

TEST(SamplingParamsTest, StopStrings) {
  ExpectValid([](SamplingParams& p) { p.stop = {"###", "\n\n"}; });
  ExpectValid(
      [](SamplingParams& p) { p.stop.assign(size_t(SamplingParams::kMaxStopStrings), "x"); });
  ExpectInvalid([](SamplingParams& p) { p.stop = {"a", ""}; }, "stop[1] must not be empty");
  ExpectInvalid(
      [](SamplingParams& p) { p.stop.assign(size_t(SamplingParams::kMaxStopStrings) + 1, "x"); },
      "stop may hold at most 16 strings, got 17");
}

TEST(SamplingParamsTest, Logprobs) {
  ExpectValid([](SamplingParams& p) {
    p.logprobs = 0;
    p.prompt_logprobs = 20;
  });
  ExpectInvalid([](SamplingParams& p) { p.logprobs = 21; }, "logprobs must be in [0, 20], got 21");
  ExpectInvalid([](SamplingParams& p) { p.logprobs = -1; }, "logprobs must be in [0, 20]");
  ExpectInvalid([](SamplingParams& p) { p.prompt_logprobs = 21; },
                "prompt_logprobs must be in [0, 20], got 21");
}

}  // namespace
}  // namespace atom
