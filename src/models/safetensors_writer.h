// Writes tensors to a safetensors file (for `--logits-out` and synthetic checkpoints).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace atom {

struct NamedTensor {
  std::string name;
  Tensor tensor;  // contiguous, on the CPU
};

// Writes `tensors` in the given order with an 8-byte aligned header. Fails on duplicate names,
// non-contiguous tensors, or an I/O error naming `path`. The file appears atomically (written
// to a temporary name, then renamed).
Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace atom
