// Kernel selection: first applicable variant wins, overrides, and errors that list variants.
#include <map>

#include <gtest/gtest.h>

#include "backends/cpu/cpu_kernels.h"
#include "ops/kernels.h"

namespace atom::ops {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(KernelSelection, CpuPicksTheFastVariantForEveryOp) {
  auto sel = SelectKernels(KernelContext{}, Env({}));
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  ASSERT_EQ(sel->choices.size(), 9u);
  for (const KernelChoice& c : sel->choices) EXPECT_EQ(c.variant, "cpu") << c.op;
  EXPECT_EQ(sel->kernels.linear, &cpu::Linear);
  EXPECT_EQ(sel->kernels.moe_experts, &cpu::MoeExperts);
  EXPECT_EQ(sel->kernels.paged_attention, &cpu::PagedAttention);
}

TEST(KernelSelection, EnvironmentForcesAVariant) {
  auto sel = SelectKernels(KernelContext{}, Env({{"ATOM_MOE_EXPERTS_KERNEL", "cpu_reference"}}));
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->kernels.moe_experts, &cpu::ref::MoeExperts);
  EXPECT_EQ(sel->kernels.linear, &cpu::Linear);
  for (const KernelChoice& c : sel->choices) {
    if (c.op == "moe_experts") {
      EXPECT_EQ(c.reason, "forced by ATOM_MOE_EXPERTS_KERNEL");
    }
  }
}

TEST(KernelSelection, UnknownForcedVariantListsTheVariants) {
  auto sel = SelectKernels(KernelContext{}, Env({{"ATOM_LINEAR_KERNEL", "sm90_wgmma"}}));
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("no such linear kernel"), std::string::npos);
  EXPECT_NE(sel.status().message().find("cpu, cpu_reference"), std::string::npos);
}

TEST(KernelSelection, NoApplicableVariantExplainsWhy) {
  KernelContext gpu;
  gpu.device = {DeviceType::kCuda, 0};
  gpu.sm_arch = 90;
  auto sel = SelectKernels(gpu, Env({}));
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("runs on the CPU only"), std::string::npos)
      << sel.status().message();
}

TEST(KernelSelection, VariantNamesInPreferenceOrder) {
  EXPECT_EQ(KernelVariantNames("linear"), (std::vector<std::string>{"cpu", "cpu_reference"}));
  EXPECT_TRUE(KernelVariantNames("no_such_op").empty());
}

}  // namespace
}  // namespace atom::ops
