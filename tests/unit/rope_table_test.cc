// YaRN RoPE tables against spec §4.4: the ω table, the ramp bounds, m, and p = 1 values.
#include <cmath>

#include <gtest/gtest.h>

#include "ops/rope.h"

namespace atom::ops {
namespace {

RopeScaling GptOssYarn() {
  RopeScaling s;
  s.type = RopeType::kYarn;
  s.factor = 32;
  s.beta_fast = 32;
  s.beta_slow = 1;
  s.original_max_position_embeddings = 4096;
  s.truncate = false;
  return s;
}

// Spec §4.4, float64 values.
constexpr double kOmega[32] = {
    1.000000000e+00, 6.890443059e-01, 4.747820555e-01, 3.271458719e-01, 2.254180002e-01,
    1.553229895e-01, 1.070244215e-01, 7.374456821e-02, 5.081327482e-02, 3.170569618e-02,
    1.933500113e-02, 1.159204926e-02, 6.794959490e-03, 3.860359317e-03, 2.093792379e-03,
    1.052602101e-03, 4.564839192e-04, 1.293187012e-04, 3.830881237e-05, 2.639646903e-05,
    1.818833668e-05, 1.253256982e-05, 8.635495875e-06, 5.950239261e-06, 4.099978482e-06,
    2.825066827e-06, 1.946596211e-06, 1.341291035e-06, 9.242089502e-07, 6.368209146e-07,
    4.387978251e-07, 3.023511428e-07};

TEST(RopeTable, YarnRangeIsUnroundedWithTruncateFalse) {
  const YarnRange r = ComputeYarnRange(150000, 64, GptOssYarn());
  EXPECT_NEAR(r.low, 8.092779115512402, 1e-12);
  EXPECT_NEAR(r.high, 17.39802450158856, 1e-12);
  RopeScaling truncated = GptOssYarn();
  truncated.truncate = true;
  const YarnRange t = ComputeYarnRange(150000, 64, truncated);
  EXPECT_EQ(t.low, 8.0);
  EXPECT_EQ(t.high, 18.0);
}

TEST(RopeTable, GptOssFrequenciesMatchTheSpecTable) {
  auto table = MakeRopeTable(150000, 64, GptOssYarn());
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ASSERT_EQ(table->inv_freq.size(), 32u);
  for (int i = 0; i < 32; ++i)
    EXPECT_NEAR(table->inv_freq[i] / kOmega[i], 1.0, 5e-7) << "i = " << i;
  EXPECT_NEAR(table->attention_scale, 1.3465735902799727, 1e-7);
}

TEST(RopeTable, PositionOneCosSinMatchTheSpec) {
  auto table = MakeRopeTable(150000, 64, GptOssYarn());
  ASSERT_TRUE(table.ok());
  const float m = table->attention_scale;
  auto c = [&](int i) { return std::cos(1.0f * table->inv_freq[i]) * m; };
  auto s = [&](int i) { return std::sin(1.0f * table->inv_freq[i]) * m; };
  EXPECT_NEAR(c(0), 0.72755682, 1e-6);
  EXPECT_NEAR(s(0), 1.13310261, 1e-6);
  EXPECT_NEAR(c(1), 1.03935821, 1e-6);
  EXPECT_NEAR(s(1), 0.85615124, 1e-6);
}

TEST(RopeTable, DefaultRopeHasNoScaling) {
  auto table = MakeRopeTable(10000, 8, RopeScaling{});
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->attention_scale, 1.0f);
  EXPECT_FLOAT_EQ(table->inv_freq[0], 1.0f);
  EXPECT_NEAR(table->inv_freq[2], 1.0 / std::pow(10000.0, 4.0 / 8.0), 1e-9);
}

TEST(RopeTable, RejectsBadArguments) {
  EXPECT_FALSE(MakeRopeTable(10000, 63, RopeScaling{}).ok());
  EXPECT_FALSE(MakeRopeTable(0, 64, RopeScaling{}).ok());
  RopeScaling bad = GptOssYarn();
  bad.factor = 0;
  EXPECT_FALSE(MakeRopeTable(150000, 64, bad).ok());
}

}  // namespace
}  // namespace atom::ops
