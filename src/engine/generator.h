// Generator: the first generation loop — several prompts in one batch, one prefill step, then
// one decode step per new token, greedy sampling, KV in fixed-size blocks with a block table per
// sequence. (The continuous-batching scheduler, prefix caching and full sampling replace it in
// the Engine; this loop stays small and exact, and is the reference the Engine is tested against.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model.h"

namespace atom {

struct GenerateRequest {
  std::vector<int32_t> prompt_ids;
  int max_tokens = 16;
  bool ignore_eos = false;
};

struct GenerateResult {
  std::vector<int32_t> output_ids;
  std::string finish_reason;  // "stop" (a stop token was generated; it is included) or "length"
  // With GeneratorOptions::record_logits: row r holds the next-token logits after position r of
  // prompt + output, for every position the loop computed ([logits_rows, vocab] row-major).
  std::vector<float> logits;
  int64_t logits_rows = 0;
};

struct GeneratorOptions {
  int block_size = 16;
  bool record_logits = false;
  // Generating one of these ends a sequence with "stop" (unless the request ignores EOS).
  std::vector<int64_t> stop_token_ids;
};

struct GenerateStats {
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  int decode_steps = 0;
};

class Generator {
 public:
  // `model` must outlive the Generator.
  Generator(Model& model, GeneratorOptions options);

  // Runs every request to completion as one batch. Fails without running anything if a request
  // is invalid: an empty prompt, a token id outside the vocabulary, max_tokens < 1, or
  // prompt + max_tokens beyond max_position_embeddings (errors name the request index).
  StatusOr<std::vector<GenerateResult>> Generate(const std::vector<GenerateRequest>& requests,
                                                 GenerateStats* stats = nullptr);

 private:
  Status Validate(const std::vector<GenerateRequest>& requests) const;

  Model& model_;
  GeneratorOptions options_;
};

}  // namespace atom
