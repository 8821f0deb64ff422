// Rotary position embedding tables: plain RoPE and YaRN (spec §4.4), computed the way Hugging
// Face transformers computes them (f32 frequencies, unrounded ramp bounds unless `truncate`).
#pragma once

#include <optional>

#include "core/status.h"
#include "ops/op_signatures.h"

namespace atom::ops {

enum class RopeType { kDefault, kYarn };

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  int original_max_position_embeddings = 0;
  bool truncate = true;  // HF's default; gpt-oss sets false
  // Optional explicit YaRN attention factor; when unset it is 0.1·ln(factor) + 1.
  std::optional<double> attention_factor;
};

// The YaRN correction range [low, high] over the head_dim / 2 frequency indices, unclamped
// and unrounded unless `truncate` (then floor/ceil), clamped to [0, head_dim - 1] like HF.
struct YarnRange {
  double low = 0;
  double high = 0;
};
YarnRange ComputeYarnRange(double theta, int head_dim, const RopeScaling& scaling);

// REQUIRES nothing; returns InvalidArgument naming the field for an odd head_dim, a
// non-positive theta or factor, or a YaRN range that is empty.
StatusOr<RopeTable> MakeRopeTable(double theta, int head_dim, const RopeScaling& scaling);

}  // namespace atom::ops
