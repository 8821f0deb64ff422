#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace atom::ops {

namespace {
// The dimension index at which a frequency completes `rotations` turns over `context` tokens.
double CorrectionDim(double rotations, int dim, double theta, double context) {
  return dim * std::log(context / (rotations * 2 * std::numbers::pi)) / (2 * std::log(theta));
}
}  // namespace

YarnRange ComputeYarnRange(double theta, int head_dim, const RopeScaling& s) {
  const double context = s.original_max_position_embeddings;
  double low = CorrectionDim(s.beta_fast, head_dim, theta, context);
  double high = CorrectionDim(s.beta_slow, head_dim, theta, context);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  return {std::max(low, 0.0), std::min(high, double(head_dim - 1))};
}

StatusOr<RopeTable> MakeRopeTable(double theta, int head_dim, const RopeScaling& s) {
  if (head_dim <= 0 || head_dim % 2 != 0)
    return InvalidArgument("head_dim must be a positive even number, got {}", head_dim);
  if (!(theta > 0)) return InvalidArgument("rope_theta must be positive, got {}", theta);
  RopeTable table;
  table.head_dim = head_dim;
  const int half = head_dim / 2;
  table.inv_freq.resize(half);
  // base^(2i/d) in f32, as torch computes `base ** (arange(0, d, 2).float() / d)`.
  auto pos_freq = [&](int i) {
    return std::pow(float(theta), float(2 * i) / float(head_dim));
  };
  if (s.type == RopeType::kDefault) {
    for (int i = 0; i < half; ++i) table.inv_freq[i] = 1.0f / pos_freq(i);
    return table;
  }
  if (!(s.factor > 0)) return InvalidArgument("rope_scaling.factor must be positive");
  if (s.original_max_position_embeddings <= 0)
    return InvalidArgument("rope_scaling.original_max_position_embeddings must be positive");
  YarnRange range = ComputeYarnRange(theta, head_dim, s);
  if (range.low == range.high) range.high += 0.001;  // as HF: avoid a zero-width ramp
  if (range.high < range.low)
    return InvalidArgument("rope_scaling gives an empty YaRN range [{}, {}]", range.low,
                           range.high);
  const float factor = float(s.factor);
  for (int i = 0; i < half; ++i) {
    const float f = pos_freq(i);
    const float extrapolation = 1.0f / f;
    const float interpolation = 1.0f / (factor * f);
    const float ramp =
        std::clamp((float(i) - float(range.low)) / float(range.high - range.low), 0.0f, 1.0f);
    const float keep = 1.0f - ramp;  // weight of the original (extrapolated) frequency
    table.inv_freq[i] = interpolation * (1.0f - keep) + extrapolation * keep;
  }
  table.attention_scale = float(s.attention_factor.value_or(
      s.factor <= 1.0 ? 1.0 : 0.1 * std::log(s.factor) + 1.0));
  return table;
}

}  // namespace atom::ops
