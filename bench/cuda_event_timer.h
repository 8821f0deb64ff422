// Helpers for the CUDA micro-benchmarks (Google Benchmark, manual time): GPU time of a batch of
// launches, replayed as one CUDA graph (as a decode step runs them: no host launch gaps),
// rotation among input sets larger than L2, random device fills, and GB/s and TFLOP/s counters.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/device_buffer.h"
#include "core/status.h"

namespace atom::bench {

// How many copies of a `bytes_per_call` working set rotate so that together they exceed the
// L2 cache (50 MB on an H100, 60 MB on an H200) 2.5 times over: every call reads from DRAM.
inline int RotatingSets(double bytes_per_call, int max_sets = 64) {
  int l2 = 0;
  cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0);
  return std::clamp(int(2.5 * std::max(l2, 50 << 20) / bytes_per_call) + 1, 1, max_sets);
}

// `bytes` of device memory holding random bf16 values in [-1, 1] (pairs of them read as f32 are
// finite too): a 64 MiB random block, drawn once per process, tiled over the buffer. Never
// zeros: they can time faster than real data.
inline cuda::DeviceBuffer RandomDevice(size_t bytes) {
  constexpr size_t kBlock = size_t(64) << 20;
  static cuda::DeviceBuffer block = [] {
    std::vector<uint16_t> host(kBlock / 2);
    std::mt19937_64 rng(std::random_device{}());
    for (size_t i = 0; i < host.size(); i += 4) {
      uint64_t r = rng();
      for (size_t j = i; j < i + 4; ++j, r >>= 16) {
        const float f = float(r & 0xFFFF) / 32768.0f - 1.0f;
        uint32_t u;
        std::memcpy(&u, &f, 4);
        host[j] = uint16_t(u >> 16);
      }
    }
    auto b = cuda::DeviceBuffer::Allocate(kBlock);
    if (!b.ok()) return cuda::DeviceBuffer();
    cudaMemcpy(b->data(), host.data(), kBlock, cudaMemcpyHostToDevice);
    return std::move(b).value();
  }();
  auto b = cuda::DeviceBuffer::Allocate(std::max<size_t>(bytes, 16));
  if (!b.ok()) return {};
  for (size_t at = 0; at < bytes; at += kBlock)
    cudaMemcpy(static_cast<char*>(b->data()) + at, block.data(), std::min(kBlock, bytes - at),
               cudaMemcpyDeviceToDevice);
  return std::move(b).value();
}

template <typename T>
cuda::DeviceBuffer UploadVector(const std::vector<T>& v) {
  auto b = cuda::DeviceBuffer::Allocate(v.size() * sizeof(T));
  if (!b.ok()) return {};
  cudaMemcpy(b->data(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return std::move(b).value();
}

// Runs `launch(i)` (i = 0, 1, ...; a Status each) `batch` times eagerly (warm-up, plans), then
// times batches of `batch` launches with CUDA events: replays of one captured CUDA graph (as a
// decode step runs them: no host launch gaps) or, with capture false, eager launches (for
// operations a graph would run differently: a graph's memcpy node moved 1 GiB device-to-device
// at 2.7 TB/s on an H200 where cudaMemcpyAsync reached 4.2). The iteration time is the mean GPU
// time per launch. Returns that time in seconds (0 on error).
template <typename Launch>
double TimeOnGpu(benchmark::State& state, cudaStream_t stream, int batch, Launch&& launch,
                 bool capture = true) {
  auto fail = [&](const std::string& what) {
    state.SkipWithError(what.c_str());
    for (auto _ : state) {
    }
    return 0.0;
  };
  int64_t call = 0;
  for (int i = 0; i < batch; ++i)
    if (Status s = launch(call++); !s.ok()) return fail(s.ToString());
  if (cudaStreamSynchronize(stream) != cudaSuccess) return fail("warm-up failed");
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  if (capture) {
    cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    Status captured;
    for (int i = 0; i < batch && captured.ok(); ++i) captured = launch(i);
    cudaStreamEndCapture(stream, &graph);
    if (!captured.ok() || graph == nullptr || cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess)
      return fail("graph capture failed: " + captured.ToString());
    cudaGraphLaunch(exec, stream);  // the first replay uploads the graph
  }
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  double total = 0;
  int64_t launches = 0;
  Status status;
  for (auto _ : state) {
    cudaEventRecord(start, stream);
    if (capture) {
      cudaGraphLaunch(exec, stream);
    } else {
      for (int i = 0; i < batch && status.ok(); ++i) status = launch(call++);
    }
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3 / batch);
    total += ms / 1e3;
    launches += batch;
  }
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess)
    state.SkipWithError(cudaGetErrorString(e));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  return launches > 0 ? total / double(launches) : 0.0;
}

// GB/s (bytes moved per launch, each input read and each output written once) and TFLOP/s over
// the mean GPU time per launch.
inline void ReportRates(benchmark::State& state, double seconds, double bytes, double flops = 0) {
  if (seconds <= 0) return;
  state.counters["GB/s"] = bytes / 1e9 / seconds;
  if (flops > 0) state.counters["TFLOP/s"] = flops / 1e12 / seconds;
}

// The device's name, for the benchmark label.
inline std::string DeviceName() {
  cudaDeviceProp p{};
  return cudaGetDeviceProperties(&p, 0) == cudaSuccess ? p.name : "no device";
}

}  // namespace atom::bench
