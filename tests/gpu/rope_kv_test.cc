// RopeWriteKvBf16 / RopeWriteKvFp8 against cpu::ref::Rope on q and k followed by
// cpu::ref::WriteKv, with gpt-oss's YaRN table (ops::MakeRopeTable), 64 query and 8 KV heads of
// 64, positions up to 131072, padding tokens, and poisoned outputs and caches: every q element
// and every mapped cache slot written, every other slot left untouched.
#include "backends/cuda/rope_kv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "backends/cpu/cpu_kernels.h"
#include "gpu_test_util.h"
#include "ops/rope.h"

namespace atom::cuda {
namespace {

using testing::Bf16ToFloats;
using testing::Download;
using testing::Poisoned;
using testing::RandomBf16;
using testing::RelativeError;
using testing::TestRng;
using testing::Upload;

constexpr double kBf16Tolerance = 4e-3;

ops::RopeTable GptOssRopeTable(int head_dim) {
  ops::RopeScaling s;
  s.type = ops::RopeType::kYarn;
  s.factor = 32.0;
  s.beta_fast = 32.0;
  s.beta_slow = 1.0;
  s.original_max_position_embeddings = 4096;
  s.truncate = false;
  auto table = ops::MakeRopeTable(150000.0, head_dim, s);
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return table.ok() ? *table : ops::RopeTable{};
}

struct Case {
  int64_t tokens;
  int q_heads = 64, kv_heads = 8, head_dim = 64, block_size = 16;
  int max_position = 131072;
  bool fp8 = false;
};

void Check(const Case& c) {
  SCOPED_TRACE(::testing::Message() << "tokens " << c.tokens << " heads " << c.q_heads << "/"
                                    << c.kv_heads << " d " << c.head_dim << " fp8 " << c.fp8);
  const int64_t T = c.tokens, hq = c.q_heads, hkv = c.kv_heads, d = c.head_dim;
  const int64_t width = (hq + 2 * hkv) * d;
  const ops::RopeTable table = GptOssRopeTable(int(d));
  const testing::Bf16Values qkv = RandomBf16(T * width, -2.0f, 2.0f);

  std::uniform_int_distribution<int32_t> pos_dist(0, c.max_position);
  std::vector<int32_t> positions(T);
  for (auto& p : positions) p = pos_dist(TestRng());
  positions[0] = c.max_position;
  if (T > 1) positions[1] = 0;

  // Distinct slots in a cache with room for twice the tokens; about one token in eight padding.
  const int64_t num_blocks = (2 * T + c.block_size - 1) / c.block_size;
  const int64_t num_slots = num_blocks * c.block_size;
  std::vector<int64_t> all_slots(num_slots);
  std::iota(all_slots.begin(), all_slots.end(), 0);
  std::shuffle(all_slots.begin(), all_slots.end(), TestRng());
  std::vector<int64_t> slots(all_slots.begin(), all_slots.begin() + T);
  for (int64_t t = 0; t < T; ++t)
    if (TestRng()() % 8 == 0) slots[t] = -1;
  if (T > 2) slots[2] = -1;

  // Reference: split, rotate q and k, write k and v into f32 caches.
  std::vector<float> q(T * hq * d), k(T * hkv * d), v(T * hkv * d);
  for (int64_t t = 0; t < T; ++t) {
    const float* row = qkv.floats.data() + t * width;
    std::copy(row, row + hq * d, q.begin() + t * hq * d);
    std::copy(row + hq * d, row + (hq + hkv) * d, k.begin() + t * hkv * d);
    std::copy(row + (hq + hkv) * d, row + width, v.begin() + t * hkv * d);
  }
  cpu::ref::Rope(Tensor(q.data(), DType::kF32, {T, hq, d}), positions.data(), table);
  cpu::ref::Rope(Tensor(k.data(), DType::kF32, {T, hkv, d}), positions.data(), table);
  std::vector<float> k_cache(num_slots * hkv * d, NAN), v_cache(num_slots * hkv * d, NAN);
  const Shape cache_shape{num_blocks, c.block_size, hkv, d};
  cpu::ref::WriteKv(Tensor(k.data(), DType::kF32, {T, hkv, d}),
                    Tensor(v.data(), DType::kF32, {T, hkv, d}), slots.data(),
                    Tensor(k_cache.data(), DType::kF32, cache_shape),
                    Tensor(v_cache.data(), DType::kF32, cache_shape));

  DeviceBuffer d_qkv = Upload(qkv.bits);
  DeviceBuffer d_positions = Upload(positions);
  DeviceBuffer d_slots = Upload(slots);
  DeviceBuffer d_inv_freq = Upload(table.inv_freq);
  DeviceBuffer d_q = Poisoned<uint16_t>(T * hq * d);
  const int64_t cache_elems = num_slots * hkv * d;
  const RopeKvShape shape{T, int(hq), int(hkv), int(d), num_slots};
  const auto* qkv_ptr = static_cast<const __nv_bfloat16*>(d_qkv.data());
  const auto* pos_ptr = static_cast<const int32_t*>(d_positions.data());
  const auto* slot_ptr = static_cast<const int64_t*>(d_slots.data());
  const auto* freq_ptr = static_cast<const float*>(d_inv_freq.data());
  auto* q_ptr = static_cast<__nv_bfloat16*>(d_q.data());

  // The mapped slots, and for each slot whether a token maps to it.
  std::vector<char> mapped(num_slots, 0);
  for (int64_t s : slots)
    if (s >= 0) mapped[s] = 1;
  const int64_t row = hkv * d;

  if (!c.fp8) {
    DeviceBuffer d_k = Poisoned<uint16_t>(cache_elems), d_v = Poisoned<uint16_t>(cache_elems);
    ATOM_ASSERT_OK(RopeWriteKvBf16(qkv_ptr, pos_ptr, slot_ptr, freq_ptr, table.attention_scale,
                                   shape, q_ptr, static_cast<__nv_bfloat16*>(d_k.data()),
                                   static_cast<__nv_bfloat16*>(d_v.data()), nullptr));
    const std::vector<uint16_t> got_k = Download<uint16_t>(d_k, cache_elems);
    const std::vector<uint16_t> got_v = Download<uint16_t>(d_v, cache_elems);
    std::vector<float> gk, gv, wk, wv;
    for (int64_t s = 0; s < num_slots; ++s) {
      for (int64_t i = s * row; i < (s + 1) * row; ++i) {
        if (mapped[s]) {
          gk.push_back(Bf16ToFloat(got_k[i])), wk.push_back(k_cache[i]);
          gv.push_back(Bf16ToFloat(got_v[i])), wv.push_back(v_cache[i]);
        } else {
          ASSERT_EQ(got_k[i], 0xFFFF) << "unmapped slot " << s << " written";
          ASSERT_EQ(got_v[i], 0xFFFF) << "unmapped slot " << s << " written";
        }
      }
    }
    EXPECT_LT(RelativeError(gk, wk), kBf16Tolerance);
    EXPECT_EQ(RelativeError(gv, wv), 0.0);  // v is copied, bf16 to bf16
  } else {
    const float k_scale = 0.02f, v_scale = 0.004f;  // v saturates: |v| / 0.004 reaches 500 > 448
    DeviceBuffer d_scales = Upload(std::vector<float>{k_scale, v_scale});
    DeviceBuffer d_k = Poisoned<uint8_t>(cache_elems), d_v = Poisoned<uint8_t>(cache_elems);
    ATOM_ASSERT_OK(RopeWriteKvFp8(qkv_ptr, pos_ptr, slot_ptr, freq_ptr, table.attention_scale,
                                  shape, q_ptr, static_cast<uint8_t*>(d_k.data()),
                                  static_cast<uint8_t*>(d_v.data()),
                                  static_cast<const float*>(d_scales.data()),
                                  static_cast<const float*>(d_scales.data()) + 1, nullptr));
    const std::vector<uint8_t> got_k = Download<uint8_t>(d_k, cache_elems);
    const std::vector<uint8_t> got_v = Download<uint8_t>(d_v, cache_elems);
    // Codes must match the reference's quantisation of the f32 value; a k code may differ by
    // one step where the rotated value sits on a rounding boundary (cos/sin ulps).
    int64_t k_off_by_one = 0, compared = 0, saturated = 0;
    for (int64_t s = 0; s < num_slots; ++s) {
      for (int64_t i = s * row; i < (s + 1) * row; ++i) {
        if (!mapped[s]) {
          ASSERT_EQ(got_k[i], 0xFF) << "unmapped slot " << s << " written";
          ASSERT_EQ(got_v[i], 0xFF) << "unmapped slot " << s << " written";
          continue;
        }
        ++compared;
        const uint8_t want_k = FloatToFp8E4M3(k_cache[i] / k_scale);
        const uint8_t want_v = FloatToFp8E4M3(v_cache[i] / v_scale);
        ASSERT_EQ(got_v[i], want_v) << "v at " << i << " value " << v_cache[i];
        saturated += (want_v & 0x7F) == 0x7E;
        if (got_k[i] != want_k) {
          ASSERT_EQ(got_k[i] & 0x80, want_k & 0x80) << "k sign at " << i;
          ASSERT_EQ(std::abs(int(got_k[i] & 0x7F) - int(want_k & 0x7F)), 1)
              << "k at " << i << " value " << k_cache[i] / k_scale;
          ++k_off_by_one;
        }
      }
    }
    EXPECT_LE(k_off_by_one, compared / 1000 + 1);
    if (compared > 10000) {
      EXPECT_GT(saturated, 0) << "the test meant to reach saturation";
    }
  }

  const std::vector<float> got_q = Bf16ToFloats(Download<uint16_t>(d_q, T * hq * d));
  EXPECT_LT(RelativeError(got_q, q), kBf16Tolerance);
}

TEST(CudaRopeKv, Bf16CacheMatchesReferenceAtGptOssSize) {
  for (int64_t tokens : {1, 7, 256, 4096}) Check({.tokens = tokens});
}

TEST(CudaRopeKv, Fp8CacheMatchesReferenceAtGptOssSize) {
  for (int64_t tokens : {1, 7, 256, 4096}) Check({.tokens = tokens, .fp8 = true});
}

TEST(CudaRopeKv, OtherHeadShapes) {
  Check({.tokens = 33, .q_heads = 8, .kv_heads = 2, .head_dim = 128, .block_size = 32});
  Check({.tokens = 5, .q_heads = 4, .kv_heads = 4, .head_dim = 16, .block_size = 1});
  Check({.tokens = 9, .q_heads = 2, .kv_heads = 1, .head_dim = 256, .fp8 = true});
  Check({.tokens = 300, .max_position = 100});  // many tokens at the same positions
}

TEST(CudaRopeKv, SlotsBeyondTheCacheAreNotStored) {
  constexpr int kHq = 2, kHkv = 1, kD = 16;
  const testing::Bf16Values qkv = RandomBf16((kHq + 2 * kHkv) * kD);
  const ops::RopeTable table = GptOssRopeTable(kD);
  DeviceBuffer d_qkv = Upload(qkv.bits), d_freq = Upload(table.inv_freq);
  DeviceBuffer d_pos = Upload(std::vector<int32_t>{5});
  DeviceBuffer d_slot = Upload(std::vector<int64_t>{4});  // == num_slots
  DeviceBuffer d_q = Poisoned<uint16_t>(kHq * kD);
  DeviceBuffer d_k = Poisoned<uint16_t>(4 * kHkv * kD), d_v = Poisoned<uint16_t>(4 * kHkv * kD);
  ATOM_ASSERT_OK(RopeWriteKvBf16(
      static_cast<const __nv_bfloat16*>(d_qkv.data()), static_cast<const int32_t*>(d_pos.data()),
      static_cast<const int64_t*>(d_slot.data()), static_cast<const float*>(d_freq.data()),
      table.attention_scale, RopeKvShape{1, kHq, kHkv, kD, 4},
      static_cast<__nv_bfloat16*>(d_q.data()), static_cast<__nv_bfloat16*>(d_k.data()),
      static_cast<__nv_bfloat16*>(d_v.data()), nullptr));
  for (uint16_t b : Download<uint16_t>(d_k, 4 * kHkv * kD)) ASSERT_EQ(b, 0xFFFF);
  for (uint16_t b : Download<uint16_t>(d_v, 4 * kHkv * kD)) ASSERT_EQ(b, 0xFFFF);
  for (uint16_t b : Download<uint16_t>(d_q, kHq * kD)) ASSERT_NE(b, 0xFFFF);
}

TEST(CudaRopeKv, RejectsBadArguments) {
  auto* p = reinterpret_cast<__nv_bfloat16*>(256);
  const auto* pos = reinterpret_cast<const int32_t*>(256);
  const auto* slots = reinterpret_cast<const int64_t*>(256);
  const auto* freq = reinterpret_cast<const float*>(256);
  auto bf16 = [&](RopeKvShape s, __nv_bfloat16* cache) {
    return RopeWriteKvBf16(p, pos, slots, freq, 1.0f, s, p, cache, cache, nullptr).code();
  };
  EXPECT_EQ(bf16({1, 64, 8, 72, 16}, p), StatusCode::kInvalidArgument);  // d % 16 != 0
  EXPECT_EQ(bf16({1, 64, 8, 2048, 16}, p), StatusCode::kInvalidArgument);
  EXPECT_EQ(bf16({1, 0, 8, 64, 16}, p), StatusCode::kInvalidArgument);
  EXPECT_EQ(bf16({1, 64, 8, 64, 16}, nullptr), StatusCode::kInvalidArgument);
  EXPECT_EQ(bf16({1, 64, 8, 64, 16}, p + 1), StatusCode::kInvalidArgument);  // misaligned
  auto* cache8 = reinterpret_cast<uint8_t*>(256);
  EXPECT_EQ(RopeWriteKvFp8(p, pos, slots, freq, 1.0f, {1, 64, 8, 64, 16}, p, cache8, cache8,
                           nullptr, nullptr, nullptr)
                .code(),
            StatusCode::kInvalidArgument);  // no scales
}

}  // namespace
}  // namespace atom::cuda
