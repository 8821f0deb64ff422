#include "engine/scheduler.h"

#include <algorithm>

#include "core/check.h"

namespace atom {

Scheduler::Scheduler(const SchedulerConfig& config, BlockManager& blocks)
    : config_(config), blocks_(blocks) {
  ATOM_CHECK(config.max_num_seqs > 0 && config.max_num_batched_tokens > 0);
}

void Scheduler::Add(Sequence* seq) {
  ATOM_CHECK(seq->status == SequenceStatus::kWaiting && seq->block_table.blocks.empty());
  seq->num_computed = 0;
  waiting_.push_back(seq);
}

void Scheduler::AddRunning(Sequence* seq) {
  ATOM_CHECK(!seq->block_table.blocks.empty());
  seq->status = SequenceStatus::kRunning;
  seq->admission = admissions_++;
  running_.push_back(seq);
}

void Scheduler::Remove(Sequence* seq) {
  std::erase(running_, seq);
  std::erase(waiting_, seq);
  blocks_.Free(&seq->block_table);
  seq->status = SequenceStatus::kFinished;
}

Sequence* Scheduler::PreemptLast() {
  Sequence* victim = running_.back();
  running_.pop_back();
  blocks_.Free(&victim->block_table);
  victim->num_computed = 0;
  victim->status = SequenceStatus::kWaiting;
  waiting_.push_front(victim);
  return victim;
}

SchedulerOutput Scheduler::Schedule() {
  SchedulerOutput out;
  int64_t budget = config_.max_num_batched_tokens;

  // Running sequences, oldest first. Preemption removes from the back, so index i stays valid.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence* seq = running_[i];
    const int64_t n = std::min(seq->num_uncomputed(), budget);
    if (n <= 0) continue;
    bool preempted_self = false;
    while (!blocks_.CanGrow(seq->block_table, seq->num_computed + n)) {
      Sequence* victim = PreemptLast();
      out.preempted.push_back(victim);
      if (victim == seq) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) break;  // everything after it was preempted already
    blocks_.Grow(&seq->block_table, seq->num_computed + n);
    out.scheduled.push_back({seq, n, n == seq->num_uncomputed()});
    budget -= n;
  }

  // Waiting sequences, first come first served, unless this step had to preempt.
  while (out.preempted.empty() && !waiting_.empty() && budget > 0 &&
         int(running_.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting_.front();
    const int64_t cached = blocks_.CachedPrefixTokens(seq->tokens);
    const int64_t remaining = seq->num_tokens() - cached;
    const int64_t n = std::min(remaining, budget);
    if (!config_.enable_chunked_prefill && n < remaining) break;  // must fit whole
    if (!blocks_.CanAllocate(seq->tokens, cached + n)) break;
    seq->num_computed = blocks_.Allocate(seq->tokens, cached + n, &seq->block_table);
    ATOM_CHECK(seq->num_computed == cached);
    seq->status = SequenceStatus::kRunning;
    seq->admission = admissions_++;
    waiting_.pop_front();
    running_.push_back(seq);
    out.scheduled.push_back({seq, n, n == seq->num_uncomputed()});
    budget -= n;
  }

  for (const ScheduledSequence& s : out.scheduled) out.num_batched_tokens += s.num_tokens;
  return out;
}

void Scheduler::OnStepComputed(const SchedulerOutput& out) {
  for (const ScheduledSequence& s : out.scheduled) {
    s.seq->num_computed += s.num_tokens;
    blocks_.CommitComputed(&s.seq->block_table, s.seq->tokens, s.seq->num_computed);
  }
}

}  // namespace atom
