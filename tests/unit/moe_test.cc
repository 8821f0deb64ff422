// MoeExperts: cpu:: against cpu::ref:: for MXFP4 and bf16 experts, batch invariance, the
// clamped SwiGLU, and agreement of the two weight layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "cpu_test_util.h"

namespace atom {
namespace {

using testing::AllFinite;
using testing::BitEqual;
using testing::PoisonedF32;
using testing::RelErr;

using MoeFn = decltype(&cpu::MoeExperts);

// Owns the tensors an ExpertWeights views.
struct Experts {
  HostTensor gu_blocks, gu_scales, down_blocks, down_scales, gate_up, down, gu_bias, down_bias;
  ops::ExpertWeights w;
};

Experts RandomExperts(std::mt19937& rng, ops::ExpertFormat format, int e, int d, int i) {
  Experts ex;
  ex.w.format = format;
  ex.w.num_experts = e;
  ex.w.hidden = d;
  ex.w.intermediate = i;
  if (format == ops::ExpertFormat::kMxfp4) {
    ex.gu_blocks = testing::RandomBytes(rng, {e, 2 * i, d / 32, 16});
    ex.gu_scales = testing::RandomBytes(rng, {e, 2 * i, d / 32}, 120, 127);
    ex.down_blocks = testing::RandomBytes(rng, {e, d, i / 32, 16});
    ex.down_scales = testing::RandomBytes(rng, {e, d, i / 32}, 120, 127);
    ex.w.gate_up_blocks = ex.gu_blocks;
    ex.w.gate_up_scales = ex.gu_scales;
    ex.w.down_blocks = ex.down_blocks;
    ex.w.down_scales = ex.down_scales;
  } else {
    const float a1 = 6.0f / std::sqrt(float(d)), a2 = 6.0f / std::sqrt(float(i));
    ex.gate_up = testing::RandomBf16(rng, {e, d, 2 * i}, -a1, a1);
    ex.down = testing::RandomBf16(rng, {e, i, d}, -a2, a2);
    ex.w.gate_up = ex.gate_up;
    ex.w.down = ex.down;
  }
  ex.gu_bias = testing::RandomBf16(rng, {e, 2 * i}, -1.0f, 1.0f);
  ex.down_bias = testing::RandomBf16(rng, {e, d}, -1.0f, 1.0f);
  ex.w.gate_up_bias = ex.gu_bias;
  ex.w.down_bias = ex.down_bias;
  return ex;
}

// k distinct experts per token and softmax-like positive weights.
struct Routes {
  HostTensor indices, weights;
};

Routes RandomRoutes(std::mt19937& rng, int64_t tokens, int k, int e) {
  Routes r{HostTensor(DType::kI32, {tokens, k}), HostTensor(DType::kF32, {tokens, k})};
  std::vector<int32_t> perm(e);
  for (int64_t t = 0; t < tokens; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const std::vector<float> raw = testing::RandomFloats(rng, k, 0.1f, 1.0f);
    const float sum = std::accumulate(raw.begin(), raw.end(), 0.0f);
    for (int s = 0; s < k; ++s) {
      r.indices.data<int32_t>()[t * k + s] = perm[s];
      r.weights.data<float>()[t * k + s] = raw[s] / sum;
    }
  }
  return r;
}

HostTensor RunMoe(MoeFn fn, const Tensor& x, const Experts& ex, const Routes& r) {
  HostTensor out = PoisonedF32({x.dim(0), x.dim(1)});
  fn(x, ex.w, r.indices, r.weights, out);
  return out;
}

struct Shape3 { int e, d, i; };

void ExpectMatchesRef(ops::ExpertFormat format, uint32_t seed) {
  std::mt19937 rng(seed);
  for (const Shape3& s : {Shape3{4, 96, 160}, Shape3{8, 64, 96}, Shape3{3, 2880, 64}}) {
    const Experts ex = RandomExperts(rng, format, s.e, s.d, s.i);
    for (int64_t tokens : {1, 7, 37}) {
      if (s.d == 2880 && tokens == 37) continue;  // keeps the element-wise ref quick
      for (int k : {1, 2, std::min(4, s.e)}) {
        HostTensor x = testing::RandomF32(rng, {tokens, s.d});
        const Routes r = RandomRoutes(rng, tokens, k, s.e);
        HostTensor a = RunMoe(&cpu::MoeExperts, x, ex, r);
        HostTensor b = RunMoe(&cpu::ref::MoeExperts, x, ex, r);
        ASSERT_TRUE(AllFinite(a));
        EXPECT_LT(RelErr(a, b), 1e-5) << "E=" << s.e << " D=" << s.d << " I=" << s.i
                                      << " T=" << tokens << " k=" << k;
      }
    }
  }
}

TEST(MoeTest, Mxfp4MatchesRef) { ExpectMatchesRef(ops::ExpertFormat::kMxfp4, 20); }
TEST(MoeTest, Bf16MatchesRef) { ExpectMatchesRef(ops::ExpertFormat::kBf16, 21); }

// Row t of a T-token call is bit-identical to the 1-token call on that token.
TEST(MoeTest, BatchInvariant) {
  for (auto format : {ops::ExpertFormat::kMxfp4, ops::ExpertFormat::kBf16}) {
    std::mt19937 rng(22);
    const int e = 6, d = 96, i = 160, k = 4;
    const int64_t tokens = 37;
    const Experts ex = RandomExperts(rng, format, e, d, i);
    HostTensor x = testing::RandomF32(rng, {tokens, d});
    const Routes r = RandomRoutes(rng, tokens, k, e);
    HostTensor all = RunMoe(&cpu::MoeExperts, x, ex, r);
    ASSERT_TRUE(AllFinite(all));
    for (int64_t t = 0; t < tokens; ++t) {
      Routes one{HostTensor(DType::kI32, {1, k}), HostTensor(DType::kF32, {1, k})};
      std::copy_n(r.indices.data<int32_t>() + t * k, k, one.indices.data<int32_t>());
      std::copy_n(r.weights.data<float>() + t * k, k, one.weights.data<float>());
      HostTensor out = RunMoe(&cpu::MoeExperts, x.tensor().Rows(t, t + 1), ex, one);
      EXPECT_TRUE(BitEqual(out.data<float>(), all.data<float>() + t * d, d)) << "token " << t;
    }
  }
}

// Writes the dense [out, in] matrix m (values FP4 × 2^(s-127) with one chosen scale byte per
// block) into MXFP4 blocks/scales at expert e. REQUIRES: every value is representable.
void EncodeMxfp4(const std::vector<float>& m, int rows, int cols, int e, const Tensor& blocks,
                 const Tensor& scales, const std::vector<uint8_t>& scale_bytes) {
  const int groups = cols / 32;
  for (int r = 0; r < rows; ++r)
    for (int g = 0; g < groups; ++g) {
      const int64_t sidx = (int64_t(e) * rows + r) * groups + g;
      const uint8_t s = scale_bytes[(int64_t(r) * groups + g) % scale_bytes.size()];
      scales.data_as<uint8_t>()[sidx] = s;
      for (int j = 0; j < 32; ++j) {
        const float v = m[int64_t(r) * cols + g * 32 + j] / std::ldexp(1.0f, int(s) - 127);
        const uint8_t code = FloatToFp4E2M1(v);
        ASSERT_EQ(Fp4E2M1ToFloat(code), v);
        uint8_t& byte = blocks.data_as<uint8_t>()[sidx * 16 + j / 2];
        byte = j % 2 == 0 ? uint8_t((byte & 0xF0) | code) : uint8_t((byte & 0x0F) | code << 4);
      }
    }
}

// One expert whose gate/up pre-activations are its biases (W1 = 0) and whose down projection
// is the identity, so out = SwiGLU(bias) exactly as the spec's formula gives it.
TEST(MoeTest, SwigluClampHandComputed) {
  const int d = 32, i = 32;
  const float gates[] = {-100, -10, -7.5f, -7, -1, -0.5f, 0, 0.5f, 1, 3, 6.5f, 7, 7.5f, 8, 10,
                         100};
  const float ups[] = {-100, -8, -7, -6.5f, -1, 0, 1, 2, 6.5f, 7, 7.5f, 8, 12, 100, -7.25f, 3};
  std::vector<float> gu_bias(2 * i), eye(d * i, 0.0f);
  for (int j = 0; j < i; ++j) {
    gu_bias[2 * j] = gates[j % 16];
    gu_bias[2 * j + 1] = ups[(j * 7) % 16];
    eye[j * i + j] = 1.0f;
  }
  for (auto format : {ops::ExpertFormat::kMxfp4, ops::ExpertFormat::kBf16}) {
    Experts ex;
    ex.w.format = format;
    ex.w.num_experts = 1;
    ex.w.hidden = d;
    ex.w.intermediate = i;
    if (format == ops::ExpertFormat::kMxfp4) {
      ex.gu_blocks = HostTensor(DType::kU8, {1, 2 * i, 1, 16});
      ex.gu_scales = HostTensor(DType::kU8, {1, 2 * i, 1});
      ex.down_blocks = HostTensor(DType::kU8, {1, d, 1, 16});
      ex.down_scales = HostTensor(DType::kU8, {1, d, 1});
      std::fill_n(ex.gu_blocks.data<uint8_t>(), 2 * i * 16, 0);
      std::fill_n(ex.down_blocks.data<uint8_t>(), d * 16, 0);
      EncodeMxfp4(std::vector<float>(2 * i * d, 0.0f), 2 * i, d, 0, ex.gu_blocks, ex.gu_scales,
                  {127});
      EncodeMxfp4(eye, d, i, 0, ex.down_blocks, ex.down_scales, {127});
      ex.w.gate_up_blocks = ex.gu_blocks;
      ex.w.gate_up_scales = ex.gu_scales;
      ex.w.down_blocks = ex.down_blocks;
      ex.w.down_scales = ex.down_scales;
    } else {
      ex.gate_up = testing::Bf16Tensor({1, d, 2 * i}, std::vector<float>(d * 2 * i, 0.0f));
      ex.down = testing::Bf16Tensor({1, i, d}, eye);  // symmetric, so [in, out] == [out, in]
      ex.w.gate_up = ex.gate_up;
      ex.w.down = ex.down;
    }
    ex.gu_bias = testing::Bf16Tensor({1, 2 * i}, gu_bias);
    ex.down_bias = testing::Bf16Tensor({1, d}, std::vector<float>(d, 0.0f));
    ex.w.gate_up_bias = ex.gu_bias;
    ex.w.down_bias = ex.down_bias;
    Routes r{HostTensor(DType::kI32, {1, 1}), HostTensor(DType::kF32, {1, 1})};
    r.indices.data<int32_t>()[0] = 0;
    r.weights.data<float>()[0] = 1.0f;
    std::mt19937 rng(23);
    HostTensor x = testing::RandomF32(rng, {1, d});
    for (MoeFn fn : {&cpu::MoeExperts, &cpu::ref::MoeExperts}) {
      HostTensor out = RunMoe(fn, x, ex, r);
      for (int j = 0; j < i; ++j) {
        const double g = std::min<double>(gu_bias[2 * j], 7.0);
        const double u = std::clamp<double>(gu_bias[2 * j + 1], -7.0, 7.0);
        const double want = g / (1.0 + std::exp(-1.702 * g)) * (u + 1.0);
        EXPECT_NEAR(out.data<float>()[j], want, 1e-5 * std::max(1.0, std::abs(want)))
            << "gate " << gu_bias[2 * j] << " up " << gu_bias[2 * j + 1];
      }
    }
  }
}

// The same weights stored as MXFP4 ([out, in]) and as bf16 (HF [in, out]) give the same output.
TEST(MoeTest, Mxfp4AndBf16LayoutsAgree) {
  std::mt19937 rng(24);
  const int e = 3, d = 64, i = 96, k = 2;
  const int64_t tokens = 7;
  Experts mx = RandomExperts(rng, ops::ExpertFormat::kMxfp4, e, d, i);
  Experts bf;
  bf.w = mx.w;
  bf.w.format = ops::ExpertFormat::kBf16;
  // Dense [out, in] matrices decoded from the MXFP4 tensors, transposed into [in, out] bf16.
  auto transpose_to_bf16 = [&](const HostTensor& blocks, const HostTensor& scales, int rows,
                               int cols) {
    HostTensor t(DType::kBF16, {e, cols, rows});
    std::vector<float> block(32);
    for (int x = 0; x < e; ++x)
      for (int r = 0; r < rows; ++r)
        for (int g = 0; g < cols / 32; ++g) {
          const int64_t idx = (int64_t(x) * rows + r) * (cols / 32) + g;
          DequantizeMxfp4Block(blocks.data<uint8_t>() + idx * 16, scales.data<uint8_t>()[idx],
                               block.data());
          for (int j = 0; j < 32; ++j)
            t.data<uint16_t>()[(int64_t(x) * cols + g * 32 + j) * rows + r] =
                FloatToBf16(block[j]);
        }
    return t;
  };
  bf.gate_up = transpose_to_bf16(mx.gu_blocks, mx.gu_scales, 2 * i, d);
  bf.down = transpose_to_bf16(mx.down_blocks, mx.down_scales, d, i);
  bf.w.gate_up = bf.gate_up;
  bf.w.down = bf.down;
  HostTensor x = testing::RandomF32(rng, {tokens, d});
  const Routes r = RandomRoutes(rng, tokens, k, e);
  for (MoeFn fn : {&cpu::MoeExperts, &cpu::ref::MoeExperts}) {
    HostTensor a = RunMoe(fn, x, mx, r);
    HostTensor b = RunMoe(fn, x, bf, r);
    EXPECT_LT(RelErr(a, b), 1e-5);
  }
}

}  // namespace
}  // namespace atom
