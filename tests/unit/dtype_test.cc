// Exhaustive and reference checks of core/dtype.h. References here are written independently of
// dtype.cc: decoders from the format definitions, encoders as brute-force nearest-value searches.
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace atom {
namespace {

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
float FromBits(uint32_t b) { return std::bit_cast<float>(b); }

// Bit-exact equality (distinguishes -0 from +0).
::testing::AssertionResult SameFloat(float a, float b) {
  if (Bits(a) == Bits(b)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << a << " (0x" << std::hex << Bits(a) << ") vs " << b << " (0x" << Bits(b) << ")";
}

// A reference round-to-nearest-even encoder over a table of non-negative finite values sorted by
// code (codes increase with value). Returns the code of the nearest value to a >= 0; a tie goes to
// the even code. Values above the last one round to it unless `overflow_limit` is exceeded.
int NearestCode(const std::vector<double>& values, double a) {
  int best = 0;
  for (int c = 1; c < int(values.size()); ++c) {
    const double d = std::fabs(a - values[c]);
    const double d_best = std::fabs(a - values[best]);
    if (d < d_best || (d == d_best && c % 2 == 0)) best = c;
  }
  return best;
}

// Random floats spread over all exponents, plus some near interesting points.
std::vector<float> SampleFloats(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) {
    const uint32_t b = rng();
    const float f = FromBits(b);
    if (!std::isnan(f)) out.push_back(f);
  }
  return out;
}

// ---- bf16 -------------------------------------------------------------------------------------

TEST(DTypeTest, Bf16ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToFloat(uint16_t(b));
    ASSERT_EQ(Bits(f), b << 16);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBf16(f), b) << std::hex << b;
  }
}

TEST(DTypeTest, Bf16RoundsToNearestEven) {
  // 1.0 = 0x3F80; half an ulp above it is 0x3F808000.
  EXPECT_EQ(FloatToBf16(FromBits(0x3F808000u)), 0x3F80);  // tie, even below
  EXPECT_EQ(FloatToBf16(FromBits(0x3F818000u)), 0x3F82);  // tie, even above
  EXPECT_EQ(FloatToBf16(FromBits(0x3F808001u)), 0x3F81);  // just above the tie
  EXPECT_EQ(FloatToBf16(FromBits(0x3F807FFFu)), 0x3F80);  // just below
  EXPECT_EQ(FloatToBf16(FromBits(0xBF808000u)), 0xBF80);  // negative tie
  EXPECT_EQ(FloatToBf16(FromBits(0xBF818000u)), 0xBF82);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(FloatToBf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7F80);  // overflows to inf
  EXPECT_EQ(FloatToBf16(FromBits(0x7F7F7FFFu)), 0x7F7F);              // stays finite
  EXPECT_EQ(FloatToBf16(-0.0f), 0x8000);
  EXPECT_EQ(FloatToBf16(FromBits(0x00008000u)), 0x0000);  // subnormal tie to even (zero)
  EXPECT_EQ(FloatToBf16(FromBits(0x00018000u)), 0x0002);

  // Against a reference over random floats: nearest of truncation and truncation + 1 ulp.
  for (float f : SampleFloats(200000, 1)) {
    const uint32_t b = Bits(f);
    const uint16_t lo = uint16_t(b >> 16);
    const uint16_t hi = uint16_t(lo + 1);
    const uint32_t rem = b & 0xFFFF;
    const uint16_t want = rem < 0x8000 ? lo : rem > 0x8000 ? hi : (lo & 1 ? hi : lo);
    ASSERT_EQ(FloatToBf16(f), want) << std::hex << b;
  }
}

TEST(DTypeTest, Bf16NanStaysNan) {
  for (uint32_t b : {0x7F800001u, 0x7FC00000u, 0x7FFFFFFFu, 0xFF800001u, 0xFFC00000u, 0x7F80FFFFu,
                     0x7F810000u}) {
    const uint16_t h = FloatToBf16(FromBits(b));
    EXPECT_TRUE(std::isnan(Bf16ToFloat(h))) << std::hex << b;
    EXPECT_EQ(h & 0x8000, (b >> 16) & 0x8000) << "sign kept";
    EXPECT_TRUE(h & 0x0040) << "quiet";
  }
}

// ---- f16 --------------------------------------------------------------------------------------

double F16Reference(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  double v;
  if (exp == 31)
    v = man ? std::nan("") : std::numeric_limits<double>::infinity();
  else if (exp == 0)
    v = man * std::pow(2.0, -24);
  else
    v = (1.0 + man / 1024.0) * std::pow(2.0, exp - 15);
  return sign ? -v : v;
}

TEST(DTypeTest, F16ExhaustiveDecodeAndRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToFloat(uint16_t(h));
    const double want = F16Reference(uint16_t(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_TRUE(std::isnan(F16ToFloat(FloatToF16(f))));
      continue;
    }
    ASSERT_TRUE(SameFloat(f, float(want))) << std::hex << h;
    ASSERT_EQ(FloatToF16(f), h) << std::hex << h;
  }
}

TEST(DTypeTest, F16RoundingTiesSubnormalsAndOverflow) {
  // Every midpoint between consecutive non-negative finite f16 values is a float; it must round
  // to the neighbour with the even code. Just above/below a midpoint rounds to the nearer one.
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    const double mid = (F16Reference(uint16_t(h)) + F16Reference(uint16_t(h + 1))) / 2;
    const float m = float(mid);
    ASSERT_EQ(double(m), mid);
    const uint16_t even = (h % 2 == 0) ? uint16_t(h) : uint16_t(h + 1);
    ASSERT_EQ(FloatToF16(m), even) << std::hex << h;
    ASSERT_EQ(FloatToF16(-m), uint16_t(even | 0x8000)) << std::hex << h;
    ASSERT_EQ(FloatToF16(std::nextafter(m, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(FloatToF16(std::nextafter(m, 1e9f)), h + 1) << std::hex << h;
  }
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -25)), 0x0000);  // tie with zero: even
  EXPECT_EQ(FloatToF16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(FloatToF16(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(FloatToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65519.996f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65520.0f), 0x7C00);  // tie between 65504 and 2^16: even is inf
  EXPECT_EQ(FloatToF16(1e10f), 0x7C00);
  EXPECT_EQ(FloatToF16(-1e10f), 0xFC00);
  EXPECT_EQ(FloatToF16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FloatToF16(-std::numeric_limits<float>::infinity()), 0xFC00);
  const uint16_t nan = FloatToF16(std::nanf(""));
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);

  // Random floats against a brute-force-free reference: the two f16 neighbours of the value.
  for (float f : SampleFloats(100000, 2)) {
    const double a = std::fabs(double(f));
    uint16_t want;
    if (a >= 65520.0) {
      want = 0x7C00;
    } else {
      // Binary search for the largest code whose value is <= a.
      uint32_t lo = 0, hi = 0x7BFF;
      while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if (F16Reference(uint16_t(mid)) <= a)
          lo = mid;
        else
          hi = mid - 1;
      }
      want = uint16_t(lo);
      if (lo < 0x7BFF || a > 65504.0) {
        const double d_lo = a - F16Reference(uint16_t(lo));
        const double d_hi = (lo == 0x7BFF ? 65536.0 : F16Reference(uint16_t(lo + 1))) - a;
        if (d_hi < d_lo || (d_hi == d_lo && lo % 2 == 1)) want = uint16_t(lo + 1);
      }
    }
    if (std::signbit(f)) want |= 0x8000;
    ASSERT_EQ(FloatToF16(f), want) << f;
  }
}

// ---- fp8 e4m3fn -------------------------------------------------------------------------------

// From the OCP definition: bias 7, 3 mantissa bits, S.1111.111 is NaN, no infinities.
double E4M3Reference(uint8_t v) {
  const int sign = v >> 7, exp = (v >> 3) & 0xF, man = v & 7;
  if (exp == 15 && man == 7) return std::nan("");
  const double mag =
      exp == 0 ? (man / 8.0) * std::pow(2.0, -6) : (1.0 + man / 8.0) * std::pow(2.0, exp - 7);
  return sign ? -mag : mag;
}

TEST(DTypeTest, Fp8E4M3AllValues) {
  int nans = 0;
  for (int v = 0; v < 256; ++v) {
    const double want = E4M3Reference(uint8_t(v));
    const float got = Fp8E4M3ToFloat(uint8_t(v));
    if (std::isnan(want)) {
      ++nans;
      EXPECT_TRUE(std::isnan(got)) << v;
      continue;
    }
    EXPECT_TRUE(SameFloat(got, float(want))) << v;
    EXPECT_EQ(FloatToFp8E4M3(got), v) << "round trip " << v;
  }
  EXPECT_EQ(nans, 2);  // 0x7F and 0xFF
  EXPECT_EQ(Fp8E4M3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x38), 1.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(Fp8E4M3ToFloat(0x08), std::ldexp(1.0f, -6));
  EXPECT_TRUE(SameFloat(Fp8E4M3ToFloat(0x80), -0.0f));
}

TEST(DTypeTest, Fp8E4M3EncodeRoundsAndSaturates) {
  std::vector<double> values;  // codes 0x00..0x7E
  for (int c = 0; c <= 0x7E; ++c) values.push_back(E4M3Reference(uint8_t(c)));
  // Every midpoint: ties to the even code.
  for (int c = 0; c < 0x7E; ++c) {
    const float m = float((values[c] + values[c + 1]) / 2);
    const int even = c % 2 == 0 ? c : c + 1;
    EXPECT_EQ(FloatToFp8E4M3(m), even) << m;
    EXPECT_EQ(FloatToFp8E4M3(-m), even | 0x80) << m;
  }
  for (float f : SampleFloats(100000, 3)) {
    const double a = std::fabs(double(f));
    const int want = a >= 448.0 ? 0x7E : NearestCode(values, a);
    ASSERT_EQ(FloatToFp8E4M3(f), want | (std::signbit(f) ? 0x80 : 0)) << f;
  }
  EXPECT_EQ(FloatToFp8E4M3(448.0f), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(460.0f), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(1e6f), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(-1e6f), 0xFE);
  EXPECT_EQ(FloatToFp8E4M3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(FloatToFp8E4M3(std::nanf("")), 0x7F);
  EXPECT_EQ(FloatToFp8E4M3(std::ldexp(1.0f, -10)), 0x00);  // tie with zero
  EXPECT_EQ(FloatToFp8E4M3(std::ldexp(1.5f, -10)), 0x01);
  EXPECT_EQ(FloatToFp8E4M3(-0.0f), 0x80);
}

// ---- e8m0 -------------------------------------------------------------------------------------

TEST(DTypeTest, E8M0AllValues) {
  for (int s = 0; s < 255; ++s) {
    const float f = E8M0ToFloat(uint8_t(s));
    EXPECT_EQ(double(f), std::pow(2.0, s - 127)) << s;
    EXPECT_EQ(FloatToE8M0(f), s) << "powers of two are exact: " << s;
    if (s < 254) {
      EXPECT_EQ(FloatToE8M0(std::nextafter(2 * f, 0.0f)), s) << "floor " << s;
    }
  }
  EXPECT_TRUE(std::isnan(E8M0ToFloat(0xFF)));
  EXPECT_EQ(FloatToE8M0(3.0f), 128);
  EXPECT_EQ(FloatToE8M0(-3.0f), 128);
  EXPECT_EQ(FloatToE8M0(0.75f), 126);
  EXPECT_EQ(FloatToE8M0(0.0f), 0x00);
  EXPECT_EQ(FloatToE8M0(std::numeric_limits<float>::denorm_min()), 0x00);  // clamped
  EXPECT_EQ(FloatToE8M0(std::numeric_limits<float>::max()), 254);
  EXPECT_EQ(FloatToE8M0(std::numeric_limits<float>::infinity()), 0xFF);
  EXPECT_EQ(FloatToE8M0(std::nanf("")), 0xFF);
}

// ---- fp4 e2m1 ---------------------------------------------------------------------------------

// Spec §3.5, typed in from the table.
constexpr double kSpecFp4[16] = {+0.0, +0.5, +1.0, +1.5, +2.0, +3.0, +4.0, +6.0,
                                 -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0};

TEST(DTypeTest, Fp4E2M1Table) {
  for (int c = 0; c < 16; ++c) {
    EXPECT_TRUE(SameFloat(Fp4E2M1ToFloat(uint8_t(c)), float(kSpecFp4[c]))) << c;
    EXPECT_TRUE(SameFloat(kFp4E2M1Values[c], float(kSpecFp4[c]))) << c;
    EXPECT_EQ(FloatToFp4E2M1(float(kSpecFp4[c])), c) << c;
    // E2M1 definition: s e1 e0 m, bias 1, e = 0 subnormal m * 0.5.
    const int e = (c >> 1) & 3, m = c & 1;
    const double mag = e == 0 ? m * 0.5 : (1 + m * 0.5) * std::pow(2.0, e - 1);
    EXPECT_EQ(std::fabs(kSpecFp4[c]), mag) << c;
  }
  EXPECT_TRUE(SameFloat(Fp4E2M1ToFloat(0xF7), 6.0f)) << "only the low nibble counts";
}

TEST(DTypeTest, Fp4E2M1EncodeNearestTiesToEven) {
  struct Case {
    float in;
    uint8_t code;
  };
  constexpr float kInf = std::numeric_limits<float>::infinity();
  // clang-format off
  const Case cases[] = {
      {0.25f, 0},  {0.75f, 2},  {1.25f, 2},  {1.75f, 4},  {2.5f, 4},   {3.5f, 6},   {5.0f, 6},
      {0.26f, 1},  {0.74f, 1},  {1.3f, 3},   {1.8f, 4},   {2.6f, 5},   {3.4f, 5},   {5.01f, 7},
      {0.1f, 0},   {6.0f, 7},   {7.0f, 7},   {1e30f, 7},  {-5.0f, 14}, {-0.25f, 8}, {-5.5f, 15},
      {kInf, 7},   {-kInf, 15}, {std::numeric_limits<float>::max(), 7},  {std::nanf(""), 0},
  };
  // clang-format on
  for (const Case& c : cases) EXPECT_EQ(FloatToFp4E2M1(c.in), c.code) << c.in;

  std::vector<double> values(kSpecFp4, kSpecFp4 + 8);
  for (float f : SampleFloats(100000, 4)) {
    const int want = NearestCode(values, std::min(std::fabs(double(f)), 6.0));
    ASSERT_EQ(FloatToFp4E2M1(f), want | (std::signbit(f) ? 8 : 0)) << f;
  }
}

// ---- MXFP4 blocks -----------------------------------------------------------------------------

TEST(DTypeTest, Mxfp4BlockEveryByteEveryPositionAndScale) {
  const int scales[] = {0, 1, 100, 126, 127, 128, 130, 200, 254};
  uint8_t codes[kMxfp4BlockBytes];
  float out[kMxfp4BlockElems];
  for (int s : scales) {
    const double mult = std::pow(2.0, s - 127);
    for (int pos = 0; pos < kMxfp4BlockBytes; ++pos) {
      for (int v = 0; v < 256; ++v) {
        for (int j = 0; j < kMxfp4BlockBytes; ++j) codes[j] = uint8_t(j * 37 + 11 + s);
        codes[pos] = uint8_t(v);
        DequantizeMxfp4Block(codes, uint8_t(s), out);
        for (int j = 0; j < kMxfp4BlockBytes; ++j) {
          const float lo = float(kSpecFp4[codes[j] & 0xF] * mult);
          const float hi = float(kSpecFp4[codes[j] >> 4] * mult);
          ASSERT_TRUE(SameFloat(out[2 * j], lo)) << "s=" << s << " pos=" << pos << " v=" << v;
          ASSERT_TRUE(SameFloat(out[2 * j + 1], hi)) << "s=" << s << " pos=" << pos << " v=" << v;
        }
      }
    }
  }
}

TEST(DTypeTest, Mxfp4SpecWorkedExample) {
  uint8_t codes[kMxfp4BlockBytes] = {0x2F, 0x90};
  float out[kMxfp4BlockElems];
  DequantizeMxfp4Block(codes, 128, out);
  EXPECT_EQ(out[0], -12.0f);
  EXPECT_EQ(out[1], 2.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], -1.0f);
  for (int i = 4; i < kMxfp4BlockElems; ++i) EXPECT_TRUE(SameFloat(out[i], 0.0f)) << i;
}

// ---- sizes ------------------------------------------------------------------------------------

TEST(DTypeTest, BitsAndBytes) {
  EXPECT_EQ(DTypeBits(DType::kF32), 32);
  EXPECT_EQ(DTypeBits(DType::kBF16), 16);
  EXPECT_EQ(DTypeBits(DType::kFP4E2M1), 4);
  EXPECT_EQ(DTypeBits(DType::kI64), 64);
  EXPECT_EQ(DTypeBytes(DType::kBF16, 3), 6u);
  EXPECT_EQ(DTypeBytes(DType::kFP4E2M1, 32), 16u);
  EXPECT_EQ(DTypeBytes(DType::kFP4E2M1, 3), std::nullopt);
  EXPECT_EQ(DTypeBytes(DType::kU8, 0), 0u);
  EXPECT_EQ(DTypeBytes(DType::kI64, uint64_t(1) << 61), std::nullopt);  // 2^64 bits overflows
  EXPECT_EQ(DTypeBytes(DType::kI64, (uint64_t(1) << 58) - 1), ((uint64_t(1) << 58) - 1) * 8);
  EXPECT_EQ(DTypeName(DType::kBF16), "bf16");
  EXPECT_EQ(DTypeName(DType::kFP4E2M1), "fp4_e2m1");
}

}  // namespace
}  // namespace atom
