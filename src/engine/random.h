// Random numbers for sampling: the counter-based Philox draw (core/philox.h: a pure function of
// seed, sequence index and output position) and the seeds of requests that set none.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace atom {

// A fresh 64-bit seed for a request that did not set one. Process-wide and thread-safe: a
// SplitMix64 sequence started from std::random_device and the clock at first use. The engine
// calls it once per request at admission, so unseeded sampling is batch-independent too.
uint64_t DrawRequestSeed();

}  // namespace atom
