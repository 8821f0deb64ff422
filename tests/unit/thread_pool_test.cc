#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace atom {
namespace {

// Runs one ParallelFor and checks: every index in [0, n) is visited exactly once, chunks are
// disjoint and non-empty, and every chunk but the one ending at n is at least max(1, min_chunk).
void CheckCoverage(ThreadPool& pool, int64_t n, int64_t min_chunk) {
  std::vector<std::atomic<int>> hits(size_t(std::max<int64_t>(n, 0)));
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  pool.ParallelFor(n, min_chunk, [&](int64_t begin, int64_t end) {
    {
      std::lock_guard<std::mutex> lock(mu);
      chunks.emplace_back(begin, end);
    }
    for (int64_t i = begin; i < end; ++i) hits[size_t(i)].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(hits[size_t(i)].load(), 1) << "n=" << n << " min_chunk=" << min_chunk << " i=" << i;
  }
  if (n <= 0) {
    EXPECT_TRUE(chunks.empty());
    return;
  }
  for (const auto& [begin, end] : chunks) {
    ASSERT_LT(begin, end);
    ASSERT_GE(begin, 0);
    ASSERT_LE(end, n);
    if (end != n) {
      ASSERT_GE(end - begin, std::max<int64_t>(1, min_chunk))
          << "n=" << n << " min_chunk=" << min_chunk;
    }
  }
}

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {-5, 0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 100, 1000, 4097}) {
      for (int64_t min_chunk : {-1, 0, 1, 2, 3, 16, 100, 1000, 5000}) {
        CheckCoverage(pool, n, min_chunk);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(ThreadPoolTest, RepeatedCallsReuseWorkers) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 500; ++rep) {
    CheckCoverage(pool, 37 + rep % 50, 1 + rep % 5);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ThreadPoolTest, NestedCallsRunInline) {
  ThreadPool pool(4);
  std::atomic<int> inner_calls{0};
  std::atomic<int> inline_violations{0};
  std::vector<std::atomic<int>> hits(200 * 10);
  pool.ParallelFor(200, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const std::thread::id outer = std::this_thread::get_id();
      pool.ParallelFor(10, 1, [&](int64_t b, int64_t e) {
        inner_calls.fetch_add(1);
        // Inline: one chunk covering everything, on the calling thread.
        if (b != 0 || e != 10 || std::this_thread::get_id() != outer) inline_violations++;
        for (int64_t j = b; j < e; ++j) hits[size_t(i * 10 + j)].fetch_add(1);
      });
    }
  });
  EXPECT_EQ(inner_calls.load(), 200);
  EXPECT_EQ(inline_violations.load(), 0);
  for (const auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPoolTest, ConcurrentCallersFromSeveralThreads) {
  ThreadPool pool(3);
  constexpr int kCallers = 4;
  constexpr int kRounds = 100;
  constexpr int64_t kN = 1000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        std::atomic<int64_t> sum{0};
        pool.ParallelFor(kN, 1 + (t + round) % 7, [&](int64_t begin, int64_t end) {
          int64_t local = 0;
          for (int64_t i = begin; i < end; ++i) local += i + t;
          sum.fetch_add(local);
        });
        if (sum.load() != kN * (kN - 1) / 2 + kN * t) wrong++;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPoolTest, GlobalPoolIsShared) {
  ThreadPool& a = ThreadPool::Global();
  ThreadPool& b = ThreadPool::Global();
  EXPECT_EQ(&a, &b);
  EXPECT_GE(a.num_threads(), 1);
  CheckCoverage(a, 1234, 10);
}

}  // namespace
}  // namespace atom
