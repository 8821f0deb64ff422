// Helpers for the CUDA micro-benchmarks (Google Benchmark, manual time): GPU time from CUDA
// events around a batch of launches, rotation among input sets larger than L2, and the
// GB/s and TFLOP/s counters.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace atom::bench {

// How many copies of a `bytes_per_call` working set rotate so that together they exceed the
// L2 cache (50 MB on an H100, 60 MB on an H200) about twice over: every call reads from DRAM.
inline int RotatingSets(double bytes_per_call, int max_sets = 64) {
  int l2 = 0;
  cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0);
  return std::clamp(int(2.5 * std::max(l2, 50 << 20) / bytes_per_call) + 1, 1, max_sets);
}

// Runs `launch(i)` (i = 0, 1, ...; a Status each) `batch` times per benchmark iteration between
// two CUDA events, and reports the mean GPU time per launch as the iteration time. Batching
// keeps the host's launch overhead out of short kernels.
template <typename Launch>
void TimeOnGpu(benchmark::State& state, cudaStream_t stream, int batch, Launch&& launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  int64_t call = 0;
  for (int warm = 0; warm < batch; ++warm) {
    if (Status s = launch(call++); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  cudaStreamSynchronize(stream);
  for (auto _ : state) {
    cudaEventRecord(start, stream);
    for (int i = 0; i < batch; ++i) {
      if (Status s = launch(call++); !s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        break;
      }
    }
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3 / batch);
  }
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess)
    state.SkipWithError(cudaGetErrorString(e));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

// Counters per launch, shown as rates over the GPU time.
inline void ReportRates(benchmark::State& state, double bytes, double flops = 0) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  if (flops > 0)
    state.counters["TFLOP/s"] =
        benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
}

// The device's name, for the benchmark context.
inline std::string DeviceName() {
  cudaDeviceProp p{};
  return cudaGetDeviceProperties(&p, 0) == cudaSuccess ? p.name : "no device";
}

}  // namespace atom::bench
