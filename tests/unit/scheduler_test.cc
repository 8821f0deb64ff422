// Scheduler: budgets, chunked prefill, FCFS admission, preemption, and a randomized workload in
// which every sequence finishes and every block comes back.
#include <memory>
#include <random>

#include <gtest/gtest.h>

#include "engine/scheduler.h"

namespace atom {
namespace {

// Drives the scheduler without a model: a step "computes" what was scheduled, and every
// sequence that reached its last token samples token 7.
struct Harness {
  Harness(int num_blocks, int block_size, bool caching, SchedulerConfig config)
      : blocks(num_blocks, block_size, caching), scheduler(config, blocks) {}

  Sequence* Add(int prompt_len, int max_output, int32_t first_token = 0) {
    auto seq = std::make_unique<Sequence>();
    seq->id = int64_t(seqs.size());
    for (int i = 0; i < prompt_len; ++i) seq->tokens.push_back(first_token + i);
    seq->num_prompt_tokens = prompt_len;
    max_output_.push_back(max_output);
    scheduler.Add(seq.get());
    seqs.push_back(std::move(seq));
    return seqs.back().get();
  }

  SchedulerOutput Step() {
    SchedulerOutput out = scheduler.Schedule();
    scheduler.OnStepComputed(out);
    for (const ScheduledSequence& s : out.scheduled) {
      Sequence* seq = s.seq;
      if (!s.samples) continue;
      EXPECT_EQ(seq->num_computed, seq->num_tokens());
      seq->tokens.push_back(7);
      if (seq->num_output_tokens() >= max_output_[seq->id]) scheduler.Remove(seq);
    }
    return out;
  }

  BlockManager blocks;
  Scheduler scheduler;
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<int> max_output_;
};

TEST(Scheduler, LongPromptIsChunkedAndDecodesKeepFlowing) {
  SchedulerConfig config;
  config.max_num_batched_tokens = 16;
  Harness h(64, 4, false, config);
  Sequence* a = h.Add(3, 10);
  SchedulerOutput first = h.Step();  // a's whole prompt
  ASSERT_EQ(first.scheduled.size(), 1u);
  EXPECT_EQ(first.scheduled[0].num_tokens, 3);
  Sequence* b = h.Add(40, 2);
  SchedulerOutput second = h.Step();
  ASSERT_EQ(second.scheduled.size(), 2u);
  EXPECT_EQ(second.scheduled[0].seq, a);  // the decode goes first
  EXPECT_EQ(second.scheduled[0].num_tokens, 1);
  EXPECT_EQ(second.scheduled[1].seq, b);
  EXPECT_EQ(second.scheduled[1].num_tokens, 15);  // the rest of the budget
  EXPECT_FALSE(second.scheduled[1].samples);
  SchedulerOutput third = h.Step();
  EXPECT_EQ(third.scheduled[1].num_tokens, 15);
  SchedulerOutput fourth = h.Step();
  EXPECT_EQ(fourth.scheduled[1].num_tokens, 10);
  EXPECT_TRUE(fourth.scheduled[1].samples);
}

TEST(Scheduler, WithoutChunkingAPromptWaitsUntilItFitsWhole) {
  SchedulerConfig config;
  config.max_num_batched_tokens = 16;
  config.enable_chunked_prefill = false;
  Harness h(64, 4, false, config);
  h.Add(10, 5);
  h.Add(10, 5);
  SchedulerOutput out = h.Step();
  ASSERT_EQ(out.scheduled.size(), 1u);  // the second 10 would not fit in the 6 left
  EXPECT_EQ(out.scheduled[0].num_tokens, 10);
  out = h.Step();
  ASSERT_EQ(out.scheduled.size(), 2u);  // decode 1 + prompt 10
}

TEST(Scheduler, MaxNumSeqsCapsRunning) {
  SchedulerConfig config;
  config.max_num_seqs = 2;
  Harness h(64, 4, false, config);
  for (int i = 0; i < 5; ++i) h.Add(2, 3);
  h.Step();
  EXPECT_EQ(h.scheduler.num_running(), 2);
  EXPECT_EQ(h.scheduler.num_waiting(), 3);
}

TEST(Scheduler, PreemptsTheMostRecentlyAdmittedWhenBlocksRunOut) {
  SchedulerConfig config;
  Harness h(4, 2, false, config);  // 8 token slots in all
  Sequence* a = h.Add(3, 20);
  Sequence* b = h.Add(3, 20);
  h.Step();  // a: 2 blocks, b: 2 blocks -> cache full
  EXPECT_EQ(h.blocks.num_free_blocks(), 0);
  h.Step();  // each computes its 4th token, still within 2 blocks
  // Both now hold 5 tokens; computing the 5th needs a third block for a, so b (admitted later)
  // is preempted.
  SchedulerOutput out = h.Step();
  ASSERT_EQ(out.preempted.size(), 1u);
  EXPECT_EQ(out.preempted[0], b);
  EXPECT_EQ(b->status, SequenceStatus::kWaiting);
  EXPECT_EQ(b->num_computed, 0);
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(out.scheduled[0].seq, a);
}

// Many sequences of random lengths arriving at random steps, with a KV cache too small for all
// of them at once: every sequence finishes with its full output and every block comes back.
TEST(Scheduler, RandomWorkloadFinishesEverythingAndFreesAllBlocks) {
  for (bool caching : {false, true}) {
    for (bool chunked : {false, true}) {
      std::mt19937 rng(caching * 2 + chunked);
      SchedulerConfig config;
      config.max_num_seqs = 8;
      config.max_num_batched_tokens = 64;
      config.enable_chunked_prefill = chunked;
      Harness h(24, 4, caching, config);  // 96 slots; one sequence needs at most 90
      int added = 0, steps = 0, preemptions = 0;
      while ((added < 60 || h.scheduler.has_work()) && steps < 20000) {
        if (added < 60 && rng() % 3 == 0) {
          h.Add(1 + int(rng() % 50), 1 + int(rng() % 40), int32_t(rng() % 4) * 100);
          ++added;
        }
        SchedulerOutput out = h.Step();
        ++steps;
        preemptions += int(out.preempted.size());
        ASSERT_LE(out.num_batched_tokens, config.max_num_batched_tokens);
        ASSERT_LE(h.scheduler.num_running(), config.max_num_seqs);
        for (const ScheduledSequence& s : out.scheduled) ASSERT_GT(s.num_tokens, 0);
      }
      EXPECT_FALSE(h.scheduler.has_work()) << "stuck after " << steps << " steps";
      EXPECT_GT(preemptions, 0) << "the workload is meant to overflow the cache";
      for (const auto& seq : h.seqs) {
        EXPECT_EQ(seq->status, SequenceStatus::kFinished);
        EXPECT_EQ(seq->num_output_tokens(), h.max_output_[seq->id]);
      }
      EXPECT_EQ(h.blocks.num_free_blocks(), h.blocks.num_blocks());
    }
  }
}

}  // namespace
}  // namespace atom
