// Small SIMD helpers for the CPU kernels, written with GCC/Clang vector extensions so the
// lane-wise arithmetic is explicit: the compiler maps a 16-float vector onto whatever registers
// -march offers (one zmm, two ymm, ...) without changing the order of any sum.
#pragma once

#include <cstdint>
#include <cstring>

namespace atom::cpu {

inline constexpr int kLanes = 16;
typedef float F32x16 __attribute__((vector_size(64)));
typedef uint32_t U32x16 __attribute__((vector_size(64)));

inline F32x16 LoadF32x16(const float* p) {
  F32x16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void StoreF32x16(float* p, F32x16 v) { std::memcpy(p, &v, sizeof(v)); }

// Sums the lanes of `acc` plus the tail products a[i] * b[i] for i in [begin, end)
// (end - begin < kLanes) in one fixed order: tail product i is added to lane i - begin, then the
// lanes are folded in halves (lane l += lane l + w for w = 8, 4, 2, 1).
inline float FoldLanes(F32x16 acc, const float* a, const float* b, int64_t begin, int64_t end) {
  typedef float F32x8 __attribute__((vector_size(32)));
  typedef float F32x4 __attribute__((vector_size(16)));
  if (begin < end) {
    float tail[kLanes] = {};
    for (int64_t i = begin; i < end; ++i) tail[i - begin] = a[i] * b[i];
    acc += LoadF32x16(tail);
  }
  const F32x8 s8 = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +
                   __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);
  const F32x4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) +
                   __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
  const float s1 = s4[0] + s4[2], s2 = s4[1] + s4[3];
  return s1 + s2;
}

// out[c * R + r] = Σ_i a[r][i] · b[c][i] for R rows `a` and C rows `b` of length n.
// Every dot runs in one order that depends only on n (element i accumulates into lane i % 16,
// then FoldLanes), so a dot gives the same bits whatever R and C it is computed under: this is
// what makes Linear and MoE independent of the batch.
template <int R, int C>
inline void DotBlock(const float* const* a_rows, const float* const* b_rows, int64_t n,
                     float* out) {
  const float* a[R];
  const float* b[C];
  for (int r = 0; r < R; ++r) a[r] = a_rows[r];
  for (int c = 0; c < C; ++c) b[c] = b_rows[c];
  F32x16 acc[C][R] = {};
  const int64_t n_main = n - n % kLanes;
  for (int64_t i = 0; i < n_main; i += kLanes) {
    F32x16 av[R];
    for (int r = 0; r < R; ++r) av[r] = LoadF32x16(a[r] + i);
    for (int c = 0; c < C; ++c) {
      const F32x16 bv = LoadF32x16(b[c] + i);
      for (int r = 0; r < R; ++r) acc[c][r] += av[r] * bv;
    }
  }
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < R; ++r) out[c * R + r] = FoldLanes(acc[c][r], a[r], b[c], n_main, n);
}

inline float Dot(const float* a, const float* b, int64_t n) {
  float out;
  DotBlock<1, 1>(&a, &b, n, &out);
  return out;
}

// y[i] += alpha * x[i].
inline void Axpy(float alpha, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace atom::cpu
