// OpProfiler: where a GPU step's time goes, op by op, from CUDA events recorded between the ops
// on the step's stream (no synchronisation inside the step). Off unless ATOM_CUDA_PROFILE=1;
// when on, the totals per step kind are logged as a table when the profiler is destroyed.
// Host code (C++20).
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

namespace atom::cuda {

class OpProfiler {
 public:
  explicit OpProfiler(cudaStream_t stream);
  ~OpProfiler();
  OpProfiler(const OpProfiler&) = delete;
  OpProfiler& operator=(const OpProfiler&) = delete;

  bool enabled() const { return enabled_; }
  // Starts a step of kind `kind` ("decode", "prefill").
  void BeginStep(std::string kind);
  // The work enqueued since the previous mark belongs to `op`.
  void Mark(const char* op);
  // After the stream is synchronised: adds the step's op times to the totals.
  void EndStep();

 private:
  struct Totals {
    int steps = 0;
    std::map<std::string, double> ms;  // by op
  };
  cudaEvent_t Event();

  bool enabled_ = false;
  cudaStream_t stream_;
  std::string kind_;
  std::vector<cudaEvent_t> pool_;  // reused between steps
  size_t used_ = 0;
  std::vector<const char*> ops_;  // ops_[i]: the work between events i and i + 1
  std::map<std::string, Totals> totals_;
};

}  // namespace atom::cuda
