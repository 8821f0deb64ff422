#include "engine/random.h"

#include <atomic>
#include <chrono>
#include <random>

namespace atom {

namespace {

uint64_t SplitMix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t InitialState() {
  std::random_device device;
  const uint64_t from_device = (uint64_t(device()) << 32) ^ device();
  const uint64_t from_clock = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  return SplitMix64(from_device ^ SplitMix64(from_clock));
}

}  // namespace

uint64_t DrawRequestSeed() {
  static std::atomic<uint64_t> state{InitialState()};
  // SplitMix64: a Weyl sequence through a bijective mixer; fetch_add makes it lock-free.
  return SplitMix64(state.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) +
                    0x9E3779B97F4A7C15ull);
}

}  // namespace atom
