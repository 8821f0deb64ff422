// Choosing one variant of an op from an ordered table: the machinery under every backend's kernel
// selection (ops/kernels.h for the CPU, ops/cuda_kernel_selection.h for CUDA).
//
// A table lists an op's variants best first, each with a predicate that says why the variant does
// not apply to a context (an empty string: it applies). The first variant that applies wins; the
// ones after it are its fallbacks. ATOM_<OP>_KERNEL=<variant> forces a variant, which must exist
// and apply. Every choice is reported with the reasons the better variants were skipped, so the
// start-up log can say what runs and why.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace atom::ops {

struct KernelChoice {
  std::string op;       // "linear"
  std::string variant;  // "cpu"
  std::string reason;   // why: "best variant applies", "forced by ATOM_LINEAR_KERNEL", or each
                        // skipped better variant with its reason
};

// Reads an environment variable; injectable for tests. Returns nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup ProcessEnv();

// One row of an op's table: `payload` is what the chosen row gives the caller (a function
// pointer, an enum).
template <typename Context, typename Payload>
struct Variant {
  std::string_view name;
  Payload payload;
  std::string (*unsupported)(const Context&);  // why it does not apply; empty when it does
};

// "ATOM_" + upper-case op + "_KERNEL": the override's variable.
inline std::string KernelEnvName(std::string_view op) {
  std::string name = "ATOM_";
  for (char c : op) name += char(std::toupper(static_cast<unsigned char>(c)));
  return name + "_KERNEL";
}

// Picks `op`'s variant for `ctx` from `table` (best first), honouring ATOM_<OP>_KERNEL in `env`;
// stores its payload in *out and appends the choice to *choices. Errors: an override naming an
// unknown variant (the message lists them) or one that does not apply (with why); no variant
// applies (with each one's reason).
// `table`: any range of Variant<Context, Payload>.
template <typename Context, typename Table, typename Payload>
Status SelectVariant(std::string_view op, const Table& table, const Context& ctx,
                     const EnvLookup& env, Payload* out, std::vector<KernelChoice>* choices) {
  const std::string env_name = KernelEnvName(op);
  if (std::optional<std::string> forced = env(env_name); forced && !forced->empty()) {
    std::vector<std::string_view> names;
    for (const auto& v : table) {
      names.push_back(v.name);
      if (v.name != *forced) continue;
      if (std::string why = v.unsupported(ctx); !why.empty())
        return InvalidArgument("{}={}: that {} kernel does not apply here: {}", env_name, *forced,
                               op, why);
      *out = v.payload;
      choices->push_back({std::string(op), *forced, "forced by " + env_name});
      return OkStatus();
    }
    return InvalidArgument("{}={}: no such {} kernel; variants: {}", env_name, *forced, op,
                           fmt::join(names, ", "));
  }
  std::vector<std::string> skipped;
  for (const auto& v : table) {
    if (std::string why = v.unsupported(ctx); !why.empty()) {
      skipped.push_back(fmt::format("{}: {}", v.name, why));
      continue;
    }
    *out = v.payload;
    choices->push_back({std::string(op), std::string(v.name),
                        skipped.empty() ? "best variant applies"
                                        : fmt::format("skipped {}", fmt::join(skipped, "; "))});
    return OkStatus();
  }
  return Unimplemented("no {} kernel applies: {}", op, fmt::join(skipped, "; "));
}

}  // namespace atom::ops
