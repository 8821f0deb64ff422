// --kv-cache-dtype: the names it accepts, what each backend makes of them, and the CPU's refusal
// of what it cannot hold, naming the flag.
#include "models/kv_cache_dtype.h"

#include <gtest/gtest.h>

#include "models/registry.h"
#include "test_paths.h"

namespace atom {
namespace {

TEST(KvCacheDType, ParsesTheFlagsNames) {
  auto parsed = ParseKvCacheDType("auto");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->has_value());
  parsed = ParseKvCacheDType("bf16");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(**parsed, DType::kBF16);
  for (const char* fp8 : {"fp8", "fp8_e4m3"}) {
    parsed = ParseKvCacheDType(fp8);
    ASSERT_TRUE(parsed.ok()) << fp8;
    EXPECT_EQ(**parsed, DType::kF8E4M3) << fp8;
  }
  for (const char* bad : {"", "fp16", "FP8", "fp8_e5m2", "f32"}) {
    parsed = ParseKvCacheDType(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("--kv-cache-dtype"), std::string::npos);
  }
  // Every name the flag's check admits parses.
  for (std::string_view name : kKvCacheDTypeNames) EXPECT_TRUE(ParseKvCacheDType(name).ok());
}

TEST(KvCacheDType, AutoIsEachBackendsOwn) {
  auto cpu = ResolveKvCacheDType(std::nullopt, DeviceType::kCpu);
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(*cpu, DType::kF32);
  auto cuda = ResolveKvCacheDType(std::nullopt, DeviceType::kCuda);
  ASSERT_TRUE(cuda.ok());
  EXPECT_EQ(*cuda, DType::kBF16);
}

TEST(KvCacheDType, CudaHoldsBf16AndFp8) {
  for (DType t : {DType::kBF16, DType::kF8E4M3}) {
    auto resolved = ResolveKvCacheDType(t, DeviceType::kCuda);
    ASSERT_TRUE(resolved.ok());
    EXPECT_EQ(*resolved, t);
  }
  EXPECT_FALSE(ResolveKvCacheDType(DType::kF16, DeviceType::kCuda).ok());
}

TEST(KvCacheDType, CpuRefusesAllButF32NamingTheFlag) {
  for (DType t : {DType::kF8E4M3, DType::kBF16}) {
    auto resolved = ResolveKvCacheDType(t, DeviceType::kCpu);
    ASSERT_FALSE(resolved.ok());
    EXPECT_EQ(resolved.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(resolved.status().message().find("--kv-cache-dtype"), std::string::npos)
        << resolved.status().ToString();
    EXPECT_NE(resolved.status().message().find("CPU"), std::string::npos);
  }
}

TEST(KvCacheDType, LoadModelOnTheCpuRefusesFp8) {
  LoadOptions options;  // the CPU
  options.kv_cache_dtype = DType::kF8E4M3;
  auto model = LoadModel(testing::FixtureDir("gpt-oss-tiny-bf16") + "/model", options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("--kv-cache-dtype"), std::string::npos);

  options.kv_cache_dtype.reset();  // auto: the CPU's f32 cache
  model = LoadModel(testing::FixtureDir("gpt-oss-tiny-bf16") + "/model", options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->kv_cache_spec().dtype, DType::kF32);
}

}  // namespace
}  // namespace atom
