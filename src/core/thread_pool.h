// ThreadPool: a fixed set of worker threads for data-parallel loops.
//
// ParallelFor splits [0, n) into contiguous chunks, runs them on the workers and the calling
// thread, and returns when all are done. One ParallelFor runs at a time per pool (calls from
// several threads are serialised); a nested call from inside a chunk runs inline.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace atom {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: 1 means no workers. 0 means one per hardware core.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), each at least `min_chunk` long
  // (except possibly the last). Blocks until every chunk has run.
  void ParallelFor(int64_t n, int64_t min_chunk,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

  // The process-wide pool used by the CPU backend.
  static ThreadPool& Global();

 private:
  void WorkerLoop(int worker_index);
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // serialises ParallelFor callers

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  uint64_t generation_ = 0;  // bumped per job; workers wait for a new one
  int pending_workers_ = 0;
  bool stopping_ = false;

  // The current job.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  std::atomic<int64_t> next_{0};
};

}  // namespace atom
