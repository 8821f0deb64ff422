// Counter-based random numbers for sampling: Philox-4x32-10 (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11; the Random123 reference).
//
// Header-only and constexpr, C++17-clean: the CUDA sampler (backends/cuda/sample_rows.cu) calls
// the same functions from device code (--expt-relaxed-constexpr), so host and GPU draws agree.
//
// A counter-based generator has no state to advance: the draw for a given (seed, sequence,
// position) is a pure function of those three numbers. So a seeded request samples the same
// tokens whatever else shares its batch, in whatever order the rows are processed, and a GPU
// kernel can compute the identical draw from the same inputs.
//
// The construction (fixed: changing it changes every seeded output):
//   key     = { lo32(seed), hi32(seed) }
//   counter = { lo32(position), hi32(position), seq_index, stream }
//   x       = Philox4x32_10(counter, key)[0]
//   u       = (x >> 8) * 2^-24          (the top 24 bits; exactly representable, u in [0, 1))
// where `position` is the output position (0 for the first generated token), `seq_index` the
// sequence's index within its request (0 .. n-1) and `stream` kSamplingStream for token draws
// (other values are reserved for other per-position draws). Words 1..3 of the Philox output are
// not used.
#pragma once

#include <array>
#include <cstdint>

namespace atom {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// The Philox-4x32 bijection with 10 rounds, exactly as Random123's philox4x32 (R = 10): each
// round multiplies counter words 0 and 2 by 0xD2511F53 and 0xCD9E8D57 (64-bit products split
// into hi/lo), mixes in the key, and the key is bumped by the Weyl constants (0x9E3779B9,
// 0xBB67AE85) between rounds.
constexpr PhiloxCounter Philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kW0;
      key[1] += kW1;
    }
    const uint64_t p0 = uint64_t(kM0) * ctr[0];
    const uint64_t p1 = uint64_t(kM1) * ctr[2];
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
  }
  return ctr;
}

inline constexpr uint32_t kSamplingStream = 0;

// A 32-bit word to a float in [0, 1) with 24 random bits: (x >> 8) * 2^-24.
constexpr float UniformFromBits(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }

// The 32-bit word x of the construction above for draw `position` of sequence `seq_index`.
constexpr uint32_t PhiloxBits(uint64_t seed, uint32_t seq_index, uint64_t position,
                              uint32_t stream = kSamplingStream) {
  const PhiloxKey key = {uint32_t(seed), uint32_t(seed >> 32)};
  const PhiloxCounter ctr = {uint32_t(position), uint32_t(position >> 32), seq_index, stream};
  return Philox4x32_10(ctr, key)[0];
}

// The uniform in [0, 1) for draw `position` of sequence `seq_index` under `seed` (the
// construction above).
constexpr float PhiloxUniform(uint64_t seed, uint32_t seq_index, uint64_t position,
                              uint32_t stream = kSamplingStream) {
  return UniformFromBits(PhiloxBits(seed, seq_index, position, stream));
}

}  // namespace atom
