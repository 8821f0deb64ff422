// Row-wise and element-wise kernels: Embedding, RmsNorm, Add, Rope, WriteKv.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/weight_rows.h"
#include "core/thread_pool.h"

namespace atom::cpu {
namespace {

// Rows per ParallelFor chunk such that a chunk holds at least ~16K elements.
int64_t RowsPerChunk(int64_t row_elems) {
  return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, row_elems));
}

}  // namespace

void Embedding(const Tensor& table, const int32_t* ids, const Tensor& out) {
  ATOM_CHECK(out.dtype() == DType::kF32 && table.dim(1) == out.dim(1));
  const int64_t dim = out.dim(1);
  float* o = out.data_as<float>();
  ThreadPool::Global().ParallelFor(out.dim(0), RowsPerChunk(dim), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t row = ids[t];
      if (table.dtype() == DType::kBF16) {
        Bf16RowToF32(table.data_as<const uint16_t>() + row * dim, dim, o + t * dim);
      } else {
        ATOM_CHECK(table.dtype() == DType::kF32);
        std::memcpy(o + t * dim, table.data_as<const float>() + row * dim, dim * sizeof(float));
      }
    }
  });
}

void RmsNorm(const Tensor& x, const Tensor& gain, float eps, const Tensor& out) {
  ATOM_CHECK(x.shape() == out.shape() && gain.dtype() == DType::kBF16 && gain.dim(0) == x.dim(1));
  const int64_t dim = x.dim(1);
  const float* in = x.data_as<const float>();
  const uint16_t* g = gain.data_as<const uint16_t>();
  float* o = out.data_as<float>();  // may alias `in`: each row is read fully before written
  ThreadPool::Global().ParallelFor(x.dim(0), RowsPerChunk(dim), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* row = in + t * dim;
      const float inv = 1.0f / std::sqrt(Dot(row, row, dim) / float(dim) + eps);
      for (int64_t i = 0; i < dim; ++i) o[t * dim + i] = row[i] * inv * Bf16ToFloat(g[i]);
    }
  });
}

void Add(const Tensor& x, const Tensor& y) {
  ATOM_CHECK(x.shape() == y.shape() && x.dtype() == DType::kF32 && y.dtype() == DType::kF32);
  float* a = x.data_as<float>();
  const float* b = y.data_as<const float>();
  ThreadPool::Global().ParallelFor(x.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) a[i] += b[i];
  });
}

void Rope(const Tensor& x, const int32_t* positions, const ops::RopeTable& table) {
  const int64_t heads = x.dim(1), d = x.dim(2), half = d / 2;
  ATOM_CHECK(d == table.head_dim && int64_t(table.inv_freq.size()) == half);
  float* data = x.data_as<float>();
  ThreadPool::Global().ParallelFor(x.dim(0), RowsPerChunk(heads * d), [&](int64_t b, int64_t e) {
    float* cs = ThreadScratch(0, 2 * half);  // cos then sin, once per token for all heads
    for (int64_t t = b; t < e; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const float angle = float(positions[t]) * table.inv_freq[i];  // one f32 multiply
        cs[i] = std::cos(angle) * table.attention_scale;
        cs[half + i] = std::sin(angle) * table.attention_scale;
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* u = data + (t * heads + h) * d;
        for (int64_t i = 0; i < half; ++i) {
          const float a = u[i], bb = u[i + half], c = cs[i], s = cs[half + i];
          u[i] = a * c - bb * s;
          u[i + half] = bb * c + a * s;
        }
      }
    }
  });
}

void WriteKv(const Tensor& k, const Tensor& v, const int64_t* slot_mapping,
             const Tensor& key_cache, const Tensor& value_cache) {
  const int64_t row = k.dim(1) * k.dim(2);
  ATOM_CHECK(v.shape() == k.shape() && key_cache.dim(2) * key_cache.dim(3) == row);
  const size_t bytes = row * sizeof(float);
  ThreadPool::Global().ParallelFor(k.dim(0), RowsPerChunk(row), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      if (slot_mapping[t] < 0) continue;  // a padding token: nothing to store
      std::memcpy(key_cache.data_as<float>() + slot_mapping[t] * row,
                  k.data_as<const float>() + t * row, bytes);
      std::memcpy(value_cache.data_as<float>() + slot_mapping[t] * row,
                  v.data_as<const float>() + t * row, bytes);
    }
  });
}

}  // namespace atom::cpu
