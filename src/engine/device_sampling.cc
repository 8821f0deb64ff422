#include "engine/device_sampling.h"

#include "core/check.h"

namespace atom {

void DeviceSamplingBatch::Clear() {
  rows_.clear();
  edits_.clear();
}

void DeviceSamplingBatch::Add(const SampleRow& row) {
  const SamplingParams& p = *row.params;
  ops::SamplingRow r;
  r.temperature = p.temperature;
  r.top_k = p.top_k;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.repetition_penalty = p.repetition_penalty;
  r.frequency_penalty = p.frequency_penalty;
  r.presence_penalty = p.presence_penalty;
  r.seed = row.seed;
  r.seq_index = row.seq_index;
  r.position = row.position;
  r.num_logprobs = p.logprobs ? *p.logprobs : -1;
  ATOM_CHECK(r.num_logprobs <= ops::kMaxTopLogprobs);
  r.first_edit = int32_t(edits_.size());
  using Kind = ops::LogitEdit::Kind;
  for (const auto& [token, bias] : p.logit_bias) edits_.push_back({token, Kind::kBias, bias, 0});
  if (row.position < p.min_tokens) {
    for (const int32_t token : p.stop_token_ids) edits_.push_back({token, Kind::kBan, 0.0f, 0});
    if (!p.ignore_eos) {
      for (const int32_t token : row.eos_token_ids) edits_.push_back({token, Kind::kBan, 0.0f, 0});
    }
  }
  if (p.has_penalties()) {
    ATOM_CHECK_MSG(row.penalties != nullptr, "penalties need a PenaltyState");
    for (const PenaltyState::Entry& e : row.penalties->entries())
      edits_.push_back({e.token, Kind::kPenalty, 0.0f, e.output_count});
  }
  r.num_edits = int32_t(edits_.size()) - r.first_edit;
  rows_.push_back(r);
}

const ops::SamplingRows& DeviceSamplingBatch::request() {
  const size_t n = rows_.size();
  tokens_.resize(n);
  logprobs_.resize(n);
  top_tokens_.resize(n * ops::kMaxTopLogprobs);
  top_logprobs_.resize(n * ops::kMaxTopLogprobs);
  request_.rows = rows_.data();
  request_.num_rows = int(n);
  request_.edits = edits_.data();
  request_.num_edits = int64_t(edits_.size());
  request_.tokens = tokens_.data();
  request_.logprobs = logprobs_.data();
  request_.top_tokens = top_tokens_.data();
  request_.top_logprobs = top_logprobs_.data();
  return request_;
}

void DeviceSamplingBatch::Result(size_t k, SampleResult* result) const {
  result->token = tokens_[k];
  result->logprob = 0.0f;
  result->top_logprobs.clear();
  const int n = rows_[k].num_logprobs;
  if (n < 0) return;
  result->logprob = logprobs_[k];
  for (int j = 0; j < n; ++j) {
    const size_t at = k * ops::kMaxTopLogprobs + size_t(j);
    if (top_tokens_[at] < 0) break;
    result->top_logprobs.push_back({top_tokens_[at], top_logprobs_[at]});
  }
}

}  // namespace atom
