#include "models/kv_cache_dtype.h"

namespace atom {

namespace {

// How --kv-cache-dtype spells `t`, for errors.
std::string_view FlagName(DType t) {
  switch (t) {
    case DType::kBF16:
      return "bf16";
    case DType::kF8E4M3:
      return "fp8";
    default:
      return DTypeName(t);
  }
}

}  // namespace

StatusOr<std::optional<DType>> ParseKvCacheDType(std::string_view name) {
  if (name == "auto") return std::optional<DType>();
  if (name == "bf16") return std::optional<DType>(DType::kBF16);
  if (name == "fp8" || name == "fp8_e4m3") return std::optional<DType>(DType::kF8E4M3);
  return InvalidArgument("--kv-cache-dtype {}: expected auto, bf16, fp8 or fp8_e4m3", name);
}

StatusOr<DType> ResolveKvCacheDType(std::optional<DType> requested, DeviceType device) {
  if (device == DeviceType::kCpu) {
    if (requested && *requested != DType::kF32)
      return InvalidArgument(
          "--kv-cache-dtype {}: the CPU backend keeps its KV cache in f32 only (use auto, or "
          "--device cuda)",
          FlagName(*requested));
    return DType::kF32;
  }
  if (!requested) return DType::kBF16;
  if (*requested != DType::kBF16 && *requested != DType::kF8E4M3)
    return InvalidArgument("--kv-cache-dtype {}: a CUDA KV cache is bf16 or fp8",
                           FlagName(*requested));
  return *requested;
}

}  // namespace atom
