// CudaSampler: one step's device sampling request (ops/sampling_rows.h) run with the SampleRows
// kernel (backends/cuda/sample_rows.h) over f32 logits rows already in device memory.
//
// It converts and uploads the rows and their edits, launches the kernel and queues the copies of
// the tokens and logprobs into the request's host outputs. Its device buffers grow to the
// largest step seen; no captured graph refers to them. Not thread-safe.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/device_buffer.h"
#include "backends/cuda/sample_rows.h"
#include "core/status.h"
#include "ops/sampling_rows.h"

namespace atom {

class CudaSampler {
 public:
  // Samples request.num_rows rows of `logits` (f32 [rows, ld], device; OVERWRITTEN with the
  // processed logits) on `stream`. Enqueues only: the outputs are valid once the stream is
  // synchronised, and the request's inputs may change as soon as this returns.
  // Errors: a device allocation or launch that failed; InvalidArgument for an edit range
  // outside the request's edits or a logprob count above ops::kMaxTopLogprobs.
  Status Sample(const ops::SamplingRows& request, float* logits, int64_t vocab, int64_t ld,
                cudaStream_t stream);

 private:
  cuda::DeviceBuffer params_, edits_, workspace_, outputs_;
  std::vector<cuda::SampleRowParams> host_params_;
  std::vector<cuda::SampleEdit> host_edits_;
};

}  // namespace atom
