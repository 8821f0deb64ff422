#include "engine/penalty_state.h"

#include "core/check.h"

namespace atom {

namespace {

// Fibonacci hashing: token ids are small consecutive integers, the multiply spreads them.
size_t SlotOf(int32_t token, size_t mask) {
  return size_t((uint32_t(token) * 0x9E3779B1u) >> 8) & mask;
}

}  // namespace

void PenaltyState::Rehash(size_t num_slots) {
  slots_.assign(num_slots, -1);
  const size_t mask = num_slots - 1;
  for (size_t i = 0; i < entries_.size(); ++i) {
    size_t s = SlotOf(entries_[i].token, mask);
    while (slots_[s] != -1) s = (s + 1) & mask;
    slots_[s] = int32_t(i);
  }
}

int32_t PenaltyState::Find(int32_t token) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t s = SlotOf(token, mask);; s = (s + 1) & mask) {
    const int32_t e = slots_[s];
    if (e == -1) return -1;
    if (entries_[size_t(e)].token == token) return e;
  }
}

PenaltyState::Entry& PenaltyState::FindOrInsert(int32_t token) {
  ATOM_CHECK(token >= 0);
  // Load factor at most 1/2 keeps probe sequences short.
  if (2 * (entries_.size() + 1) > slots_.size()) Rehash(slots_.empty() ? 64 : 2 * slots_.size());
  const size_t mask = slots_.size() - 1;
  size_t s = SlotOf(token, mask);
  for (; slots_[s] != -1; s = (s + 1) & mask) {
    Entry& e = entries_[size_t(slots_[s])];
    if (e.token == token) return e;
  }
  slots_[s] = int32_t(entries_.size());
  entries_.push_back({token, 0, false});
  return entries_.back();
}

void PenaltyState::AddPromptTokens(std::span<const int32_t> ids) {
  for (const int32_t token : ids) FindOrInsert(token).in_prompt = true;
}

void PenaltyState::AddOutputToken(int32_t token) {
  ++FindOrInsert(token).output_count;
  ++num_output_tokens_;
}

int32_t PenaltyState::OutputCount(int32_t token) const {
  const int32_t e = Find(token);
  return e < 0 ? 0 : entries_[size_t(e)].output_count;
}

bool PenaltyState::InPrompt(int32_t token) const {
  const int32_t e = Find(token);
  return e >= 0 && entries_[size_t(e)].in_prompt;
}

void PenaltyState::Apply(const SamplingParams& params, float* logits) const {
  const float repetition = params.repetition_penalty;
  const float frequency = params.frequency_penalty;
  const float presence = params.presence_penalty;
  for (const Entry& e : entries_) {
    float& logit = logits[e.token];
    if (repetition != 1.0f) logit = logit > 0.0f ? logit / repetition : logit * repetition;
    if (e.output_count > 0) {
      logit -= frequency * float(e.output_count);
      logit -= presence;
    }
  }
}

}  // namespace atom
