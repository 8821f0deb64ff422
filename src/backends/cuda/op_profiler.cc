#include "backends/cuda/op_profiler.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "core/logging.h"

namespace atom::cuda {

OpProfiler::OpProfiler(cudaStream_t stream) : stream_(stream) {
  const char* env = std::getenv("ATOM_CUDA_PROFILE");
  enabled_ = env != nullptr && std::strcmp(env, "1") == 0;
}

OpProfiler::~OpProfiler() {
  for (const auto& [kind, t] : totals_) {
    double step = 0;
    for (const auto& [op, ms] : t.ms) step += ms;
    std::string table = fmt::format("GPU time per {} step ({} steps), by op:", kind, t.steps);
    for (const auto& [op, ms] : t.ms)
      table += fmt::format("\n  {:<18} {:9.3f} ms  {:5.1f}%", op, ms / t.steps, 100 * ms / step);
    table += fmt::format("\n  {:<18} {:9.3f} ms", "total", step / t.steps);
    ATOM_LOG_INFO("{}", table);
  }
  for (cudaEvent_t e : pool_) cudaEventDestroy(e);
}

cudaEvent_t OpProfiler::Event() {
  if (used_ == pool_.size()) {
    cudaEvent_t e = nullptr;
    cudaEventCreate(&e);
    pool_.push_back(e);
  }
  return pool_[used_++];
}

void OpProfiler::BeginStep(std::string kind) {
  if (!enabled_) return;
  kind_ = std::move(kind);
  used_ = 0;
  ops_.clear();
  cudaEventRecord(Event(), stream_);
}

void OpProfiler::Mark(const char* op) {
  if (!enabled_) return;
  ops_.push_back(op);
  cudaEventRecord(Event(), stream_);
}

void OpProfiler::EndStep() {
  if (!enabled_ || used_ < 2) return;
  Totals& t = totals_[kind_];
  ++t.steps;
  for (size_t i = 0; i + 1 < used_; ++i) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, pool_[i], pool_[i + 1]) == cudaSuccess) t.ms[ops_[i]] += ms;
  }
}

}  // namespace atom::cuda
