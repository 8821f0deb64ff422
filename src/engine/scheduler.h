// Scheduler: decides, each step, which sequences run and how many of their tokens.
//
// Policy (see docs/scheduling-and-kv-cache.md): a per-step token budget and a cap on running
// sequences. Running sequences go first, in admission order: a decoding sequence takes one token,
// a sequence still in its prompt takes the next chunk that fits the budget. The rest of the budget
// admits waiting sequences first come, first served; with chunked prefill a long prompt is split
// across steps, without it a prompt must fit in one step. When the KV cache cannot hold a running
// sequence's next tokens, the most recently admitted running sequence is preempted: its blocks are
// freed and it goes back to the front of the queue to be recomputed later (prefix caching makes
// that cheap). No new sequence is admitted in a step that preempted.
//
// The scheduler owns no sequences (the engine does) and no tensors; it changes block tables only
// through the BlockManager, checking before every change. Not thread-safe: the engine loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace atom {

struct SchedulerConfig {
  int max_num_seqs = 256;             // running sequences at most
  int max_num_batched_tokens = 8192;  // tokens per step at most
  bool enable_chunked_prefill = true;
};

struct ScheduledSequence {
  Sequence* seq;
  int64_t num_tokens;  // computes tokens [seq->num_computed, seq->num_computed + num_tokens)
  bool samples;        // the chunk reaches the sequence's last token: the step yields its
                       // next-token logits
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;  // running ones first, then newly admitted
  std::vector<Sequence*> preempted;          // sent back to waiting this step
  int64_t num_batched_tokens = 0;
  bool empty() const { return scheduled.empty(); }
};

class Scheduler {
 public:
  // `blocks` must outlive the scheduler.
  Scheduler(const SchedulerConfig& config, BlockManager& blocks);

  const SchedulerConfig& config() const { return config_; }
  int num_running() const { return int(running_.size()); }
  int num_waiting() const { return int(waiting_.size()); }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

  // Queues a new sequence (status kWaiting, no blocks, nothing computed).
  void Add(Sequence* seq);
  // Makes a sequence that already holds its blocks and computed tokens (a fork of a running
  // one) running, as the most recently admitted.
  void AddRunning(Sequence* seq);
  // Takes a sequence out wherever it is (finished or aborted) and frees its blocks.
  void Remove(Sequence* seq);

  // Plans one step: grows the block tables of everything it schedules.
  SchedulerOutput Schedule();
  // Records that the planned tokens are computed (advances num_computed, registers full blocks
  // in the prefix cache). Call after the model ran the step, before appending sampled tokens.
  void OnStepComputed(const SchedulerOutput& out);

 private:
  // Frees the most recently admitted running sequence and puts it at the front of the queue.
  Sequence* PreemptLast();

  SchedulerConfig config_;
  BlockManager& blocks_;
  std::vector<Sequence*> running_;  // in admission order
  std::deque<Sequence*> waiting_;   // front = next to admit
  int64_t admissions_ = 0;
};

}  // namespace atom
