// cpu:: kernels against cpu::ref:: (and hand computations) for the element-wise, Linear, Rope
// and router ops. Attention and MoE live in attention_test.cc and moe_test.cc.
#include "backends/cpu/cpu_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/weight_rows.h"
#include "cpu_test_util.h"
#include "ops/rope.h"

namespace atom {
namespace {

using testing::AllFinite;
using testing::BitEqual;
using testing::PoisonedF32;
using testing::RandomBf16;
using testing::RandomF32;
using testing::RelErr;

TEST(CpuKernelsTest, EmbeddingBf16AndF32MatchRef) {
  std::mt19937 rng(1);
  for (DType dt : {DType::kBF16, DType::kF32}) {
    for (int64_t dim : {96, 2880}) {
      HostTensor table =
          dt == DType::kBF16 ? RandomBf16(rng, {50, dim}) : RandomF32(rng, {50, dim});
      const std::vector<int32_t> ids = {3, 0, 49, 3, 17, 8, 22};
      HostTensor a = PoisonedF32({7, dim}), b = PoisonedF32({7, dim});
      cpu::Embedding(table, ids.data(), a);
      cpu::ref::Embedding(table, ids.data(), b);
      ASSERT_TRUE(AllFinite(a));
      EXPECT_TRUE(BitEqual(a.data<float>(), b.data<float>(), a.numel()));
      EXPECT_EQ(a.data<float>()[dim * 2 + 5],
                dt == DType::kBF16 ? Bf16ToFloat(table.data<uint16_t>()[49 * dim + 5])
                                   : table.data<float>()[49 * dim + 5]);
    }
  }
}

TEST(CpuKernelsTest, RmsNormMatchesRefAndMayAlias) {
  std::mt19937 rng(2);
  for (int64_t rows : {1, 7, 37}) {
    for (int64_t dim : {96, 100, 2880}) {
      HostTensor x = RandomF32(rng, {rows, dim}, -3.0f, 3.0f);
      HostTensor gain = RandomBf16(rng, {dim}, 0.5f, 1.5f);
      HostTensor a = PoisonedF32({rows, dim}), b = PoisonedF32({rows, dim});
      cpu::RmsNorm(x, gain, 1e-5f, a);
      cpu::ref::RmsNorm(x, gain, 1e-5f, b);
      ASSERT_TRUE(AllFinite(a));
      EXPECT_LT(RelErr(a, b), 1e-6) << rows << "x" << dim;
      cpu::RmsNorm(x, gain, 1e-5f, x);  // in place
      EXPECT_TRUE(BitEqual(x.data<float>(), a.data<float>(), a.numel()));
    }
  }
}

TEST(CpuKernelsTest, RmsNormHandComputed) {
  HostTensor x = testing::F32Tensor({1, 4}, {1.0f, -2.0f, 3.0f, -4.0f});
  HostTensor gain = testing::Bf16Tensor({4}, {1.0f, 2.0f, 0.5f, 1.0f});
  HostTensor out = PoisonedF32({1, 4});
  cpu::RmsNorm(x, gain, 1e-5f, out);
  const float r = 1.0f / std::sqrt(30.0f / 4.0f + 1e-5f);
  const float want[4] = {r, -4 * r, 1.5f * r, -4 * r};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out.data<float>()[i], want[i], 1e-6f);
}

TEST(CpuKernelsTest, LinearMatchesRef) {
  std::mt19937 rng(3);
  struct Case {
    int64_t tokens, in, out;
    bool bias;
  };
  for (const Case& c : {Case{1, 96, 160, true}, Case{7, 96, 161, false}, Case{37, 100, 33, true},
                        Case{3, 2880, 13, true}, Case{1, 2880, 6, false}, Case{70, 64, 10, true}}) {
    HostTensor x = RandomF32(rng, {c.tokens, c.in});
    HostTensor w = RandomBf16(rng, {c.out, c.in}, -0.1f, 0.1f);
    HostTensor bias = RandomBf16(rng, {c.out});
    Tensor b_view = c.bias ? bias.tensor() : Tensor();
    HostTensor a = PoisonedF32({c.tokens, c.out}), b = PoisonedF32({c.tokens, c.out});
    cpu::Linear(x, w, b_view, a);
    cpu::ref::Linear(x, w, b_view, b);
    ASSERT_TRUE(AllFinite(a));
    EXPECT_LT(RelErr(a, b), 1e-5) << c.tokens << " " << c.in << "->" << c.out;
  }
}

// Row t of a T-row call is bit-identical to the 1-row call on that row (batch invariance).
TEST(CpuKernelsTest, LinearIsBatchInvariant) {
  std::mt19937 rng(4);
  for (int64_t in : {96, 2880}) {
    const int64_t tokens = 37, out = 45;
    HostTensor x = RandomF32(rng, {tokens, in});
    HostTensor w = RandomBf16(rng, {out, in}, -0.1f, 0.1f);
    HostTensor bias = RandomBf16(rng, {out});
    HostTensor all = PoisonedF32({tokens, out});
    cpu::Linear(x, w, bias, all);
    for (int64_t t = 0; t < tokens; ++t) {
      HostTensor one = PoisonedF32({1, out});
      cpu::Linear(x.tensor().Rows(t, t + 1), w, bias, one);
      EXPECT_TRUE(BitEqual(one.data<float>(), all.data<float>() + t * out, out)) << "row " << t;
    }
    // And any sub-batch starting elsewhere.
    HostTensor part = PoisonedF32({5, out});
    cpu::Linear(x.tensor().Rows(11, 16), w, bias, part);
    EXPECT_TRUE(BitEqual(part.data<float>(), all.data<float>() + 11 * out, 5 * out));
  }
}

TEST(CpuKernelsTest, AddMatchesRef) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 96, 100000}) {
    HostTensor x = RandomF32(rng, {n}), y = RandomF32(rng, {n});
    HostTensor x2 = testing::F32Tensor({n}, testing::Values(x));
    cpu::Add(x, y);
    cpu::ref::Add(x2, y);
    EXPECT_TRUE(BitEqual(x.data<float>(), x2.data<float>(), n));
  }
}

TEST(CpuKernelsTest, WriteKvMatchesRef) {
  std::mt19937 rng(6);
  const int64_t tokens = 7, hkv = 3, d = 20, blocks = 5, block_size = 4;
  HostTensor k = RandomF32(rng, {tokens, hkv, d}), v = RandomF32(rng, {tokens, hkv, d});
  // Slot -1 is a padding token: stored nowhere.
  const std::vector<int64_t> slots = {19, 0, 5, -1, 7, 12, 3};
  HostTensor kc = PoisonedF32({blocks, block_size, hkv, d});
  HostTensor vc = PoisonedF32({blocks, block_size, hkv, d});
  HostTensor kr = PoisonedF32({blocks, block_size, hkv, d});
  HostTensor vr = PoisonedF32({blocks, block_size, hkv, d});
  cpu::WriteKv(k, v, slots.data(), kc, vc);
  cpu::ref::WriteKv(k, v, slots.data(), kr, vr);
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    EXPECT_TRUE(
        BitEqual(kc.data<float>() + slots[t] * hkv * d, k.data<float>() + t * hkv * d, hkv * d));
    EXPECT_TRUE(
        BitEqual(vc.data<float>() + slots[t] * hkv * d, v.data<float>() + t * hkv * d, hkv * d));
  }
  // Untouched slots (6 among them, where a wrong padding write would land) stay NaN.
  EXPECT_TRUE(std::isnan(kc.data<float>()[6 * hkv * d]));
  // Compare bit patterns with the ref.
  EXPECT_EQ(std::memcmp(kc.data<float>(), kr.data<float>(), kc.numel() * 4), 0);
  EXPECT_EQ(std::memcmp(vc.data<float>(), vr.data<float>(), vc.numel() * 4), 0);
}

ops::RopeTable RandomRopeTable(std::mt19937& rng, int d) {
  ops::RopeTable t;
  t.head_dim = d;
  for (int i = 0; i < d / 2; ++i) t.inv_freq.push_back(std::pow(10000.0f, -2.0f * i / d));
  t.attention_scale = 1.3465736f;
  return t;
}

TEST(RopeTest, MatchesRef) {
  std::mt19937 rng(7);
  for (int d : {64, 96}) {
    for (int64_t tokens : {1, 7, 37}) {
      const int64_t heads = 5;
      const ops::RopeTable table = RandomRopeTable(rng, d);
      HostTensor x = RandomF32(rng, {tokens, heads, d});
      HostTensor y = testing::F32Tensor({tokens, heads, d}, testing::Values(x));
      std::vector<int32_t> pos(tokens);
      for (int64_t t = 0; t < tokens; ++t) pos[t] = int32_t(rng() % 131072);
      cpu::Rope(x, pos.data(), table);
      cpu::ref::Rope(y, pos.data(), table);
      EXPECT_LT(RelErr(x, y), 1e-6);
    }
  }
}

// Spec §4.4: the p = 1 values of C and S, through the production YaRN table of gpt-oss
// (whose ω_i values rope_table_test.cc checks against the spec's table).
TEST(RopeTest, SpecYarnTableAtPositionOne) {
  ops::RopeScaling yarn;
  yarn.type = ops::RopeType::kYarn;
  yarn.factor = 32;
  yarn.beta_fast = 32;
  yarn.beta_slow = 1;
  yarn.original_max_position_embeddings = 4096;
  yarn.truncate = false;
  auto made = ops::MakeRopeTable(150000, 64, yarn);
  ASSERT_TRUE(made.ok());
  const ops::RopeTable& table = *made;
  // Head 0 holds e_i (i = 0 or 1) and head 1 holds e_{i+32}: rotating e_i gives C at i and S at
  // i + 32; rotating e_{i+32} gives -S at i and C at i + 32.
  for (int i : {0, 1}) {
    std::vector<float> v(2 * 64, 0.0f);
    v[i] = 1.0f;
    v[64 + i + 32] = 1.0f;
    HostTensor x = testing::F32Tensor({1, 2, 64}, v);
    const int32_t pos = 1;
    cpu::Rope(x, &pos, table);
    const double c_want = i == 0 ? 0.72755682 : 1.03935821;
    const double s_want = i == 0 ? 1.13310261 : 0.85615124;
    const float* o = x.data<float>();
    EXPECT_NEAR(o[i], c_want, 1e-6 * c_want);
    EXPECT_NEAR(o[i + 32], s_want, 1e-6 * s_want);
    EXPECT_NEAR(o[64 + i], -s_want, 1e-6 * s_want);
    EXPECT_NEAR(o[64 + i + 32], c_want, 1e-6 * c_want);
  }
}

TEST(CpuKernelsTest, RouterTopKMatchesRef) {
  std::mt19937 rng(8);
  for (int64_t experts : {32, 128}) {
    for (int k : {1, 4}) {
      const int64_t tokens = 37;
      HostTensor logits = RandomF32(rng, {tokens, experts}, -4.0f, 4.0f);
      HostTensor ia(DType::kI32, {tokens, k}), ib(DType::kI32, {tokens, k});
      HostTensor wa = PoisonedF32({tokens, k}), wb = PoisonedF32({tokens, k});
      cpu::RouterTopK(logits, k, ia, wa);
      cpu::ref::RouterTopK(logits, k, ib, wb);
      EXPECT_EQ(std::memcmp(ia.data<int32_t>(), ib.data<int32_t>(), tokens * k * 4), 0);
      EXPECT_TRUE(BitEqual(wa.data<float>(), wb.data<float>(), tokens * k));
      for (int64_t t = 0; t < tokens; ++t) {
        float sum = 0;
        for (int i = 0; i < k; ++i) sum += wa.data<float>()[t * k + i];
        EXPECT_NEAR(sum, 1.0f, 1e-6f);
        for (int i = 1; i < k; ++i)
          EXPECT_GE(wa.data<float>()[t * k + i - 1], wa.data<float>()[t * k + i]);
      }
    }
  }
}

TEST(CpuKernelsTest, RouterTopKTiesPickLowerIndexFirst) {
  // Logits with ties: 2.0 at experts 5, 1, 7; 1.0 at experts 0 and 3.
  std::vector<float> l(8, -1.0f);
  l[5] = l[1] = l[7] = 2.0f;
  l[0] = l[3] = 1.0f;
  HostTensor logits = testing::F32Tensor({1, 8}, l);
  for (auto* fn : {&cpu::RouterTopK, &cpu::ref::RouterTopK}) {
    HostTensor idx(DType::kI32, {1, 4});
    HostTensor w = PoisonedF32({1, 4});
    fn(logits, 4, idx, w);
    const int32_t* i = idx.data<int32_t>();
    EXPECT_EQ(i[0], 1);
    EXPECT_EQ(i[1], 5);
    EXPECT_EQ(i[2], 7);
    EXPECT_EQ(i[3], 0);
    const float e = std::exp(-1.0f), den = 3.0f + e;
    EXPECT_NEAR(w.data<float>()[0], 1.0f / den, 1e-7f);
    EXPECT_NEAR(w.data<float>()[3], e / den, 1e-7f);
    EXPECT_NEAR(w.data<float>()[0] + w.data<float>()[1] + w.data<float>()[2] + w.data<float>()[3],
                1.0f, 1e-6f);
  }
}

// The fast MXFP4 row decoder equals DequantizeMxfp4Block for every code and every scale.
TEST(CpuKernelsTest, Mxfp4RowDecoderMatchesBlockDecoder) {
  // Block b has scale b / 16 and bytes 16 (b % 16) .. 16 (b % 16) + 15: every byte meets every
  // scale.
  const int blocks = 256 * 16;
  std::vector<uint8_t> codes(blocks * 16), scales(blocks);
  for (int b = 0; b < blocks; ++b) {
    scales[b] = uint8_t(b / 16);
    for (int j = 0; j < 16; ++j) codes[b * 16 + j] = uint8_t((b % 16) * 16 + j);
  }
  std::vector<float> fast(blocks * 32), slow(blocks * 32);
  cpu::DequantizeMxfp4Row(codes.data(), scales.data(), blocks, fast.data());
  for (int b = 0; b < blocks; ++b)
    DequantizeMxfp4Block(codes.data() + b * 16, scales[b], slow.data() + b * 32);
  EXPECT_EQ(std::memcmp(fast.data(), slow.data(), fast.size() * 4), 0);
}

}  // namespace
}  // namespace atom
