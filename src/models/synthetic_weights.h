// Deterministic pseudo-random tensor contents for synthetic checkpoints.
//
// Every byte is a pure function of (seed, tensor name, position): element i of a tensor comes
// from splitmix64(key + (i + 1) * golden ratio), where key hashes the seed and the name. So any
// split into chunks, any thread count and any order gives the same bytes, and a tensor is the
// same whichever preset or layer count it is written for.
#pragma once

#include <cstdint>
#include <string_view>

namespace atom::synthetic {

enum class InitKind : uint8_t {
  kBf16Normal,   // bf16 ~ mean + std * z, z approximately N(0, 1) (Irwin-Hall of 4 uniforms)
  kMxfp4Codes,   // U8 bytes of packed e2m1 codes, every nibble uniform over the 16 codes
  kMxfp4Scales,  // U8 e8m0 scales, so the dequantized weights have std ≈ `std`
};

struct TensorInit {
  InitKind kind = InitKind::kBf16Normal;
  float mean = 0.0f;
  float std = 1.0f;
};

// The per-tensor key.
uint64_t TensorKey(uint64_t seed, std::string_view name);

// The two scale exponents and the probability of the larger one such that MXFP4 codes drawn
// uniformly, times 2^exponent, have variance std^2 (E[e2m1 code value^2] = 8.5625).
struct Mxfp4ScaleMix {
  int low_exponent = 0;  // scale byte = low_exponent + 127
  double p_high = 0.0;   // probability of low_exponent + 1
};
Mxfp4ScaleMix ScaleMixFor(float std);

// Fills bytes [begin, begin + n) of the tensor with key `key`. For kBf16Normal, `begin` and
// `n` must be even (whole elements).
void FillBytes(const TensorInit& init, uint64_t key, uint64_t begin, uint64_t n, uint8_t* out);

}  // namespace atom::synthetic
