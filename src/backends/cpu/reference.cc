// cpu::ref: naive single-threaded kernels that read as the spec does (gpt-oss spec §3.5, §4).
// They are the baseline every other kernel is tested against, so they favour obviousness over
// speed: element-by-element weight decoding, two-pass softmax, no blocking.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_kernels.h"

namespace atom::cpu::ref {
namespace {

float Bf16At(const Tensor& t, int64_t i) { return Bf16ToFloat(t.data_as<const uint16_t>()[i]); }

// W[e][r][c] of an MXFP4 [E, R, C/32, 16] matrix, spec §3.5.
float Mxfp4At(const Tensor& blocks, const Tensor& scales, int64_t e, int64_t r, int64_t c) {
  const int64_t rows = blocks.dim(1), groups = blocks.dim(2);
  const int64_t g = c / 32, j = c % 32;
  const uint8_t b = blocks.data_as<const uint8_t>()[((e * rows + r) * groups + g) * 16 + j / 2];
  const uint8_t code = j % 2 == 0 ? (b & 0xF) : (b >> 4);
  const uint8_t s = scales.data_as<const uint8_t>()[(e * rows + r) * groups + g];
  return Fp4E2M1ToFloat(code) * std::ldexp(1.0f, int(s) - 127);
}

}  // namespace

void Embedding(const Tensor& table, const int32_t* ids, const Tensor& out) {
  const int64_t n = out.dim(0), dim = out.dim(1);
  float* o = out.data_as<float>();
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < dim; ++i) {
      const int64_t idx = int64_t(ids[t]) * dim + i;
      o[t * dim + i] = table.dtype() == DType::kBF16 ? Bf16At(table, idx)
                                                      : table.data_as<const float>()[idx];
    }
  }
}

void RmsNorm(const Tensor& x, const Tensor& gain, float eps, const Tensor& out) {
  const int64_t rows = x.dim(0), dim = x.dim(1);
  const float* in = x.data_as<const float>();
  float* o = out.data_as<float>();
  for (int64_t t = 0; t < rows; ++t) {
    float sum_sq = 0.0f;
    for (int64_t i = 0; i < dim; ++i) sum_sq += in[t * dim + i] * in[t * dim + i];
    const float denom = std::sqrt(sum_sq / float(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) o[t * dim + i] = in[t * dim + i] / denom * Bf16At(gain, i);
  }
}

void Linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  const int64_t rows = x.dim(0), in_dim = x.dim(1), out_dim = weight.dim(0);
  const float* in = x.data_as<const float>();
  float* o = out.data_as<float>();
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t j = 0; j < out_dim; ++j) {
      float sum = 0.0f;
      for (int64_t i = 0; i < in_dim; ++i)
        sum += in[t * in_dim + i] * Bf16At(weight, j * in_dim + i);
      o[t * out_dim + j] = sum + (bias.defined() ? Bf16At(bias, j) : 0.0f);
    }
  }
}

void Add(const Tensor& x, const Tensor& y) {
  float* a = x.data_as<float>();
  const float* b = y.data_as<const float>();
  for (int64_t i = 0; i < x.numel(); ++i) a[i] += b[i];
}

void Rope(const Tensor& x, const int32_t* positions, const ops::RopeTable& table) {
  const int64_t tokens = x.dim(0), heads = x.dim(1), d = x.dim(2), half = d / 2;
  float* data = x.data_as<float>();
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      float* u = data + (t * heads + h) * d;
      for (int64_t i = 0; i < half; ++i) {
        const float angle = float(positions[t]) * table.inv_freq[i];
        const float c = std::cos(angle) * table.attention_scale;
        const float s = std::sin(angle) * table.attention_scale;
        const float a = u[i], b = u[i + half];
        u[i] = a * c - b * s;
        u[i + half] = b * c + a * s;
      }
    }
  }
}

void WriteKv(const Tensor& k, const Tensor& v, const int64_t* slot_mapping,
             const Tensor& key_cache, const Tensor& value_cache) {
  const int64_t tokens = k.dim(0), row = k.dim(1) * k.dim(2);
  for (int64_t t = 0; t < tokens; ++t) {
    if (slot_mapping[t] < 0) continue;
    for (int64_t i = 0; i < row; ++i) {
      key_cache.data_as<float>()[slot_mapping[t] * row + i] = k.data_as<const float>()[t * row + i];
      value_cache.data_as<float>()[slot_mapping[t] * row + i] =
          v.data_as<const float>()[t * row + i];
    }
  }
}

void PagedAttention(const Tensor& q, const Tensor& key_cache, const Tensor& value_cache,
                    const ops::AttentionMetadata& md, const Tensor& sinks,
                    const ops::AttentionParams& params, const Tensor& out) {
  const int64_t num_q_heads = q.dim(1), d = q.dim(2), num_kv_heads = key_cache.dim(2);
  const int64_t group = num_q_heads / num_kv_heads;
  const float* k_cache = key_cache.data_as<const float>();
  const float* v_cache = value_cache.data_as<const float>();
  for (int s = 0; s < md.num_seqs; ++s) {
    for (int i = md.query_start[s]; i < md.query_start[s + 1]; ++i) {
      const int64_t p = md.positions[i];
      const int64_t lo = params.sliding_window > 0
                             ? std::max<int64_t>(0, p - params.sliding_window + 1) : 0;
      for (int64_t h = 0; h < num_q_heads; ++h) {
        const int64_t kv_head = h / group;
        const float* qv = q.data_as<const float>() + (i * num_q_heads + h) * d;
        auto slot = [&](int64_t j) {
          const int64_t block = md.block_tables[s * md.max_blocks_per_seq + j / md.block_size];
          return block * md.block_size + j % md.block_size;
        };
        // Logits of the visible keys, then the softmax with the sink as an extra column.
        std::vector<float> z;
        for (int64_t j = lo; j <= p; ++j) {
          const float* kv = k_cache + (slot(j) * num_kv_heads + kv_head) * d;
          float dot = 0.0f;
          for (int64_t c = 0; c < d; ++c) dot += qv[c] * kv[c];
          z.push_back(params.scale * dot);
        }
        const float sink = sinks.defined() ? Bf16At(sinks, h)
                                           : -std::numeric_limits<float>::infinity();
        float m = sink;
        for (float zj : z) m = std::max(m, zj);
        float denom = std::exp(sink - m);
        for (float zj : z) denom += std::exp(zj - m);
        float* o = out.data_as<float>() + (i * num_q_heads + h) * d;
        for (int64_t c = 0; c < d; ++c) o[c] = 0.0f;
        for (int64_t j = lo; j <= p; ++j) {
          const float prob = std::exp(z[j - lo] - m) / denom;
          const float* vv = v_cache + (slot(j) * num_kv_heads + kv_head) * d;
          for (int64_t c = 0; c < d; ++c) o[c] += prob * vv[c];
        }
      }
    }
  }
}

void RouterTopK(const Tensor& logits, int k, const Tensor& indices, const Tensor& weights) {
  const int64_t rows = logits.dim(0), num_experts = logits.dim(1);
  for (int64_t t = 0; t < rows; ++t) {
    const float* r = logits.data_as<const float>() + t * num_experts;
    int32_t* idx = indices.data_as<int32_t>() + t * k;
    float* w = weights.data_as<float>() + t * k;
    // k passes, each taking the largest logit not yet chosen; a strict > keeps the lower index.
    std::vector<bool> taken(num_experts, false);
    for (int i = 0; i < k; ++i) {
      int64_t best = -1;
      for (int64_t e = 0; e < num_experts; ++e)
        if (!taken[e] && (best < 0 || r[e] > r[best])) best = e;
      taken[best] = true;
      idx[i] = int32_t(best);
    }
    float sum = 0.0f;
    for (int i = 0; i < k; ++i) sum += std::exp(r[idx[i]] - r[idx[0]]);
    for (int i = 0; i < k; ++i) w[i] = std::exp(r[idx[i]] - r[idx[0]]) / sum;
  }
}

void MoeExperts(const Tensor& x, const ops::ExpertWeights& experts, const Tensor& indices,
                const Tensor& weights, const Tensor& out) {
  const int64_t rows = x.dim(0), dim = experts.hidden, inter = experts.intermediate;
  const int64_t k = indices.dim(1);
  const bool mxfp4 = experts.format == ops::ExpertFormat::kMxfp4;
  // W1_e[r][c] ([2I, D]) and W2_e[r][c] ([D, I]) in [out, in] terms, whatever the storage.
  auto w1 = [&](int64_t e, int64_t r, int64_t c) {
    return mxfp4 ? Mxfp4At(experts.gate_up_blocks, experts.gate_up_scales, e, r, c)
                 : Bf16At(experts.gate_up, (e * dim + c) * 2 * inter + r);
  };
  auto w2 = [&](int64_t e, int64_t r, int64_t c) {
    return mxfp4 ? Mxfp4At(experts.down_blocks, experts.down_scales, e, r, c)
                 : Bf16At(experts.down, (e * inter + c) * dim + r);
  };
  const float limit = experts.swiglu_limit, alpha = experts.swiglu_alpha;
  std::vector<float> y1(2 * inter), act(inter), y2(dim);
  for (int64_t t = 0; t < rows; ++t) {
    const float* xt = x.data_as<const float>() + t * dim;
    std::vector<float> acc(dim, 0.0f);
    for (int64_t slot = 0; slot < k; ++slot) {
      const int64_t e = indices.data_as<const int32_t>()[t * k + slot];
      for (int64_t r = 0; r < 2 * inter; ++r) {
        float sum = 0.0f;
        for (int64_t c = 0; c < dim; ++c) sum += w1(e, r, c) * xt[c];
        y1[r] = sum + Bf16At(experts.gate_up_bias, e * 2 * inter + r);
      }
      for (int64_t j = 0; j < inter; ++j) {
        const float g = std::min(y1[2 * j], limit);
        const float u = std::clamp(y1[2 * j + 1], -limit, limit);
        act[j] = g / (1.0f + std::exp(-alpha * g)) * (u + 1.0f);
      }
      for (int64_t r = 0; r < dim; ++r) {
        float sum = 0.0f;
        for (int64_t c = 0; c < inter; ++c) sum += w2(e, r, c) * act[c];
        y2[r] = sum + Bf16At(experts.down_bias, e * dim + r);
      }
      const float w = weights.data_as<const float>()[t * k + slot];
      for (int64_t r = 0; r < dim; ++r) acc[r] += w * y2[r];
    }
    std::memcpy(out.data_as<float>() + t * dim, acc.data(), dim * sizeof(float));
  }
}

}  // namespace atom::cpu::ref
