// CUDA kernel selection (ops/cuda_kernel_selection.h) on described devices: the tuned sm_90a
// variant where its code is loaded, the portable fallback where it is not (ATOM_CUDA_TUNED=OFF,
// an older GPU, too little shared memory), dtype predicates, overrides and their errors. Runs
// without a GPU: selection reads only the context.
#include "ops/cuda_kernel_selection.h"

#include <gtest/gtest.h>

#include <map>

namespace atom::ops {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars = {}) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// gpt-oss on an H100 running the sm_90a build.
CudaKernelContext Hopper() {
  CudaKernelContext c;
  c.sm_arch = 90;
  c.loaded_image_arch = 900;
  c.max_shared_memory_per_block = 227 * 1024;
  c.mxfp4_experts = true;
  c.head_dim = 64;
  c.q_heads_per_kv_head = 8;
  c.kv_cache_dtype = DType::kBF16;
  return c;
}

const KernelChoice& ChoiceOf(const CudaKernelSelection& sel, std::string_view op) {
  for (const KernelChoice& c : sel.choices)
    if (c.op == op) return c;
  static const KernelChoice none;
  ADD_FAILURE() << "no choice for " << op;
  return none;
}

TEST(CudaKernelSelection, HopperWithTunedCodePicksTheSm90aVariant) {
  auto sel = SelectCudaKernels(Hopper(), Env());
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, CudaMoeKernel::kStreamTma);
  EXPECT_EQ(ChoiceOf(*sel, "moe_experts").variant, "mxfp4_stream_tma");
  EXPECT_EQ(ChoiceOf(*sel, "moe_experts").reason, "best variant applies");
  EXPECT_EQ(sel->kernels.rope_write_kv, CudaKvWriteKernel::kBf16Cache);
  EXPECT_EQ(sel->kernels.linear, CudaLinearKernel::kGemvFewTokens);
  // One line per op, in a fixed order.
  std::vector<std::string> ops;
  for (const KernelChoice& c : sel->choices) ops.push_back(c.op);
  EXPECT_EQ(
      ops, (std::vector<std::string>{"embedding", "rms_norm", "linear", "rope_write_kv",
                                     "paged_attention", "router_topk", "moe_experts", "sampling"}));
}

// The build without the tuned kernels loads sm_80 code on the same device: the portable
// variant runs, and the log says why the tuned one was skipped.
TEST(CudaKernelSelection, PortableBuildFallsBackAndSaysWhy) {
  CudaKernelContext c = Hopper();
  c.loaded_image_arch = 800;
  auto sel = SelectCudaKernels(c, Env());
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, CudaMoeKernel::kStream);
  const KernelChoice& moe = ChoiceOf(*sel, "moe_experts");
  EXPECT_EQ(moe.variant, "mxfp4_stream");
  EXPECT_NE(moe.reason.find("mxfp4_stream_tma: sm_90a code not in this build"), std::string::npos)
      << moe.reason;
}

TEST(CudaKernelSelection, AmpereAndSmallSharedMemoryFallBack) {
  CudaKernelContext ampere = Hopper();
  ampere.sm_arch = 80;
  ampere.loaded_image_arch = 800;
  ampere.max_shared_memory_per_block = 163 * 1024;
  auto sel = SelectCudaKernels(ampere, Env());
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, CudaMoeKernel::kStream);
  EXPECT_NE(ChoiceOf(*sel, "moe_experts").reason.find("needs an sm_90 device (device is sm_80)"),
            std::string::npos);

  CudaKernelContext small = Hopper();
  small.max_shared_memory_per_block = 16 * 1024;
  sel = SelectCudaKernels(small, Env());
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, CudaMoeKernel::kStream);
  EXPECT_NE(ChoiceOf(*sel, "moe_experts").reason.find("bytes of shared memory"), std::string::npos);
}

TEST(CudaKernelSelection, DtypesPickTheirVariants) {
  CudaKernelContext fp8 = Hopper();
  fp8.kv_cache_dtype = DType::kF8E4M3;
  auto with_fp8 = SelectCudaKernels(fp8, Env());
  ASSERT_TRUE(with_fp8.ok()) << with_fp8.status().ToString();
  EXPECT_EQ(with_fp8->kernels.rope_write_kv, CudaKvWriteKernel::kFp8Cache);
  EXPECT_EQ(ChoiceOf(*with_fp8, "paged_attention").variant, "flash_mma");
  fp8.kv_cache_dtype = DType::kF32;
  EXPECT_FALSE(SelectCudaKernels(fp8, Env()).ok());

  CudaKernelContext c = Hopper();
  c.mxfp4_experts = false;
  auto sel = SelectCudaKernels(c, Env());
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, CudaMoeKernel::kBf16);
  EXPECT_NE(ChoiceOf(*sel, "moe_experts").reason.find("needs MXFP4 experts"), std::string::npos);
}

TEST(CudaKernelSelection, ForcedVariant) {
  auto sel = SelectCudaKernels(Hopper(), Env({{"ATOM_MOE_EXPERTS_KERNEL", "mxfp4_decode"}}));
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, CudaMoeKernel::kDecode);
  EXPECT_EQ(ChoiceOf(*sel, "moe_experts").reason, "forced by ATOM_MOE_EXPERTS_KERNEL");
}

TEST(CudaKernelSelection, CublasLtForEveryStepCanBeForced) {
  auto sel = SelectCudaKernels(Hopper(), Env({{"ATOM_LINEAR_KERNEL", "cublaslt"}}));
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.linear, CudaLinearKernel::kCublasLt);
  EXPECT_EQ(ChoiceOf(*sel, "linear").reason, "forced by ATOM_LINEAR_KERNEL");
  EXPECT_EQ(CudaKernelVariantNames("linear"),
            (std::vector<std::string>{"gemv_few_tokens", "cublaslt"}));
}

TEST(CudaKernelSelection, ForcingAVariantThatDoesNotApplyFails) {
  CudaKernelContext c = Hopper();
  c.loaded_image_arch = 800;
  auto sel = SelectCudaKernels(c, Env({{"ATOM_MOE_EXPERTS_KERNEL", "mxfp4_stream_tma"}}));
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("does not apply here: sm_90a code not in this build"),
            std::string::npos)
      << sel.status().message();
  sel = SelectCudaKernels(Hopper(), Env({{"ATOM_MOE_EXPERTS_KERNEL", "bf16_simple"}}));
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("needs bf16 experts"), std::string::npos);
}

TEST(CudaKernelSelection, UnknownForcedVariantListsTheVariants) {
  auto sel = SelectCudaKernels(Hopper(), Env({{"ATOM_LINEAR_KERNEL", "cpu"}}));
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(
      sel.status().message().find("no such linear kernel; variants: gemv_few_tokens, cublaslt"),
      std::string::npos)
      << sel.status().message();
}

TEST(CudaKernelSelection, NoVariantAppliesNamesTheOpAndWhy) {
  CudaKernelContext c = Hopper();
  c.head_dim = 96;
  auto sel = SelectCudaKernels(c, Env());
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("no paged_attention kernel applies"), std::string::npos);
  EXPECT_NE(sel.status().message().find("head_dim 96"), std::string::npos);
  c = Hopper();
  c.sm_arch = 75;
  c.loaded_image_arch = 0;
  sel = SelectCudaKernels(c, Env());
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("needs sm_80 or newer (device is sm_75)"),
            std::string::npos);
}

TEST(CudaKernelSelection, VariantNamesInPreferenceOrder) {
  EXPECT_EQ(CudaKernelVariantNames("moe_experts"),
            (std::vector<std::string>{"mxfp4_stream_tma", "mxfp4_stream", "mxfp4_decode",
                                      "bf16_simple"}));
  EXPECT_EQ(CudaKernelVariantNames("rope_write_kv"),
            (std::vector<std::string>{"bf16_cache", "fp8_cache"}));
  EXPECT_TRUE(CudaKernelVariantNames("no_such_op").empty());
}

}  // namespace
}  // namespace atom::ops
