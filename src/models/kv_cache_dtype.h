// The KV cache's element type, as `--kv-cache-dtype auto|bf16|fp8` asks for it and as a backend
// can hold it.
//
// auto is the backend's own: bf16 on CUDA, f32 on the CPU (whose kernels read f32 caches only).
// fp8 is OCP e4m3fn (DType::kF8E4M3, "fp8_e4m3" is accepted too): half the bytes of bf16, so
// twice the tokens in the same memory. Its per-layer scales (value = stored · scale) are 1.0, as
// vLLM uses without calibration: gpt-oss keys and values are far inside e4m3's ±448 range, and a
// value beyond it saturates to ±448 when written (RopeWriteKvFp8) rather than turning into NaN.
#pragma once

#include <optional>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"

namespace atom {

// The names --kv-cache-dtype accepts, for its help and checks.
inline constexpr std::string_view kKvCacheDTypeNames[] = {"auto", "bf16", "fp8", "fp8_e4m3"};

// "auto" → nullopt (the backend's default); "bf16" → kBF16; "fp8" or "fp8_e4m3" → kF8E4M3.
// Errors: InvalidArgument naming the flag and the accepted names.
StatusOr<std::optional<DType>> ParseKvCacheDType(std::string_view name);

// The dtype a KV cache on `device` gets when `requested` was asked for (nullopt: auto).
// Errors: InvalidArgument naming --kv-cache-dtype when the backend cannot hold it (the CPU holds
// f32 only; CUDA holds bf16 and fp8).
StatusOr<DType> ResolveKvCacheDType(std::optional<DType> requested, DeviceType device);

}  // namespace atom
