// DenseGemv against an f64 host reference on fresh random bf16 inputs, outputs poisoned: gpt-oss's
// decode shapes (qkv 2880 -> 5120, o 4096 -> 2880, router 2880 -> 128 with f32 bias and logits)
// at every token count 1..8, both splits, odd row counts, row strides; a token's output bits must
// not depend on how many tokens share the call; and the argument checks.
#include "backends/cuda/dense_gemv.h"

#include <gtest/gtest.h>

#include <cmath>

#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Download;
using testing::Poisoned;
using testing::RandomBf16;
using testing::RandomFloats;
using testing::Upload;

struct Case {
  int tokens, in, out;
  GemvDType bias, out_dtype;
  bool has_bias = true;
  int split = 0;
  int64_t x_stride = 0, out_stride = 0;  // 0: dense
};

struct Inputs {
  testing::Bf16Values x, w, bias_bf16;
  std::vector<float> bias_f32;
};

// The output as floats, every [tokens, out] element (the stride's gaps are not read).
std::vector<float> RunGemv(const Case& c, const Inputs& in) {
  const int64_t xs = c.x_stride ? c.x_stride : c.in, os = c.out_stride ? c.out_stride : c.out;
  DeviceBuffer d_x = Upload(in.x.bits), d_w = Upload(in.w.bits);
  DeviceBuffer d_bias = c.bias == GemvDType::kF32 ? Upload(in.bias_f32) : Upload(in.bias_bf16.bits);
  const int out_bytes = c.out_dtype == GemvDType::kF32 ? 4 : 2;
  DeviceBuffer d_out = Poisoned<uint8_t>(size_t(c.tokens) * os * out_bytes);
  DenseGemvArgs a;
  a.x = static_cast<const __nv_bfloat16*>(d_x.data());
  a.x_stride = xs;
  a.weight = static_cast<const __nv_bfloat16*>(d_w.data());
  a.bias = c.has_bias ? d_bias.data() : nullptr;
  a.bias_dtype = c.bias;
  a.out = d_out.data();
  a.out_dtype = c.out_dtype;
  a.out_stride = os;
  a.tokens = c.tokens;
  a.in = c.in;
  a.out_features = c.out;
  a.split = c.split;
  const Status s = DenseGemv(a, nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<float> got(size_t(c.tokens) * c.out);
  if (c.out_dtype == GemvDType::kF32) {
    const std::vector<float> raw = Download<float>(d_out, size_t(c.tokens) * os);
    for (int t = 0; t < c.tokens; ++t)
      for (int n = 0; n < c.out; ++n) got[size_t(t) * c.out + n] = raw[size_t(t * os + n)];
  } else {
    const std::vector<uint16_t> raw = Download<uint16_t>(d_out, size_t(c.tokens) * os);
    for (int t = 0; t < c.tokens; ++t)
      for (int n = 0; n < c.out; ++n)
        got[size_t(t) * c.out + n] = Bf16ToFloat(raw[size_t(t * os + n)]);
  }
  return got;
}

Inputs MakeInputs(const Case& c) {
  const int64_t xs = c.x_stride ? c.x_stride : c.in;
  Inputs in;
  in.x = RandomBf16(size_t(c.tokens) * xs, -2.0f, 2.0f);
  in.w = RandomBf16(size_t(c.out) * c.in, -0.05f, 0.05f);
  in.bias_bf16 = RandomBf16(size_t(c.out), -0.5f, 0.5f);
  in.bias_f32 = RandomFloats(size_t(c.out), -0.5f, 0.5f);
  return in;
}

void Check(const Case& c) {
  SCOPED_TRACE(::testing::Message()
               << "tokens " << c.tokens << " in " << c.in << " out " << c.out << " split "
               << c.split << " f32 out " << (c.out_dtype == GemvDType::kF32));
  const Inputs in = MakeInputs(c);
  const std::vector<float> got = RunGemv(c, in);
  const int64_t xs = c.x_stride ? c.x_stride : c.in;
  std::vector<float> want(got.size());
  for (int t = 0; t < c.tokens; ++t)
    for (int n = 0; n < c.out; ++n) {
      double sum = 0;
      for (int i = 0; i < c.in; ++i)
        sum += double(in.x.floats[size_t(t * xs + i)]) * in.w.floats[size_t(n) * c.in + i];
      if (c.has_bias)
        sum += c.bias == GemvDType::kF32 ? in.bias_f32[size_t(n)] : in.bias_bf16.floats[size_t(n)];
      want[size_t(t) * c.out + n] = float(sum);
    }
  // f32 sums of ~4k products: ~1e-6 relative; a bf16 output adds its rounding (2^-9).
  const double bound = c.out_dtype == GemvDType::kF32 ? 1e-5 : 4e-3;
  EXPECT_LT(testing::RelativeError(got, want), bound);
}

TEST(CudaDenseGemv, GptOssDecodeShapesAtEveryTokenCount) {
  for (int tokens = 1; tokens <= kDenseGemvMaxTokens; ++tokens) {
    Check({tokens, 2880, 5120, GemvDType::kBf16, GemvDType::kBf16});  // qkv
    Check({tokens, 4096, 2880, GemvDType::kBf16, GemvDType::kF32});   // o, into the f32 delta
    Check({tokens, 2880, 128, GemvDType::kF32, GemvDType::kF32});     // router logits
  }
}

TEST(CudaDenseGemv, BothSplitsOddRowsStridesAndNoBias) {
  for (int split : {1, 4}) {
    Check({3, 2880, 37, GemvDType::kBf16, GemvDType::kBf16, true, split});
    Check({8, 64, 5, GemvDType::kF32, GemvDType::kF32, false, split});
    Check({1, 8, 1, GemvDType::kBf16, GemvDType::kF32, true, split});
    Check({5, 1032, 301, GemvDType::kBf16, GemvDType::kBf16, true, split, 1048, 333});
  }
}

// A token's output is bit-identical whether it is computed alone or with seven others, and
// (for one split) whatever the call's token count.
TEST(CudaDenseGemv, OutputOfATokenDoesNotDependOnTheBatch) {
  for (int split : {1, 4}) {
    Case all{8, 2880, 640, GemvDType::kBf16, GemvDType::kF32, true, split};
    const Inputs in = MakeInputs(all);
    const std::vector<float> together = RunGemv(all, in);
    for (int tokens : {1, 2, 3, 5}) {
      Case some = all;
      some.tokens = tokens;
      Inputs prefix = in;
      prefix.x.bits.resize(size_t(tokens) * all.in);
      const std::vector<float> alone = RunGemv(some, prefix);
      for (size_t i = 0; i < alone.size(); ++i)
        ASSERT_EQ(alone[i], together[i])
            << "split " << split << " tokens " << tokens << " at " << i;
    }
  }
}

TEST(CudaDenseGemv, RejectsBadArguments) {
  DeviceBuffer buf = Poisoned<uint8_t>(1 << 16);
  DenseGemvArgs a;
  a.x = static_cast<const __nv_bfloat16*>(buf.data());
  a.weight = a.x;
  a.out = buf.data();
  a.tokens = 1;
  a.in = 64;
  a.x_stride = 64;
  a.out_features = 4;
  a.out_stride = 4;
  EXPECT_TRUE(DenseGemv(a, nullptr).ok());
  for (int tokens : {0, kDenseGemvMaxTokens + 1}) {
    DenseGemvArgs b = a;
    b.tokens = tokens;
    EXPECT_NE(DenseGemv(b, nullptr).ToString().find("tokens"), std::string::npos);
  }
  DenseGemvArgs b = a;
  b.in = 60;
  EXPECT_NE(DenseGemv(b, nullptr).ToString().find("in = 60"), std::string::npos);
  b = a;
  b.x = a.x + 1;
  EXPECT_NE(DenseGemv(b, nullptr).ToString().find("aligned"), std::string::npos);
  b = a;
  b.split = 2;
  EXPECT_NE(DenseGemv(b, nullptr).ToString().find("split"), std::string::npos);
  b = a;
  b.out = nullptr;
  EXPECT_NE(DenseGemv(b, nullptr).ToString().find("null"), std::string::npos);
  ATOM_ASSERT_CUDA(cudaDeviceSynchronize());
}

}  // namespace
}  // namespace atom::cuda
