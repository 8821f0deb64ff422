// Large random bf16 arrays for gpu tests at real sizes (the 201,088 x 2880 embedding and
// unembedding matrices: 579 M values), drawn fast: a splitmix64 stream per chunk, chunks filled
// on all cores, seeded from TestRng() so every run sees fresh values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "gpu_test_util.h"

namespace atom::testing {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// n bf16 values uniform in [-scale, scale) (16 random bits each), as bf16 bits.
inline std::vector<uint16_t> BulkRandomBf16(size_t n, float scale) {
  std::vector<uint16_t> out(n);
  const uint64_t seed = (uint64_t(TestRng()()) << 32) | TestRng()();
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  const size_t chunk = (n + threads - 1) / threads;
  std::vector<std::thread> workers;
  for (size_t w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      uint64_t state = seed + w * 0x632BE59BD9B4E019ull;
      const size_t end = std::min(n, (w + 1) * chunk);
      for (size_t i = w * chunk; i < end; i += 4) {
        uint64_t r = SplitMix64(state);
        for (size_t j = i; j < std::min(end, i + 4); ++j, r >>= 16)
          out[j] = FloatToBf16((float(r & 0xFFFF) * (2.0f / 65536.0f) - 1.0f) * scale);
      }
    });
  }
  for (auto& t : workers) t.join();
  return out;
}

}  // namespace atom::testing
