#include "models/cuda/cuda_sampler.h"

#include <algorithm>

#include "backends/cuda/cuda_check.h"

namespace atom {

namespace {

static_assert(ops::kMaxTopLogprobs == cuda::kMaxSampleTopLogprobs);

// Grows a device buffer (contents are not kept).
Status Grow(cuda::DeviceBuffer& buffer, size_t bytes) {
  if (buffer.size() >= bytes) return OkStatus();
  ATOM_ASSIGN_OR_RETURN(buffer, cuda::DeviceBuffer::Allocate(std::max<size_t>(bytes, 256)));
  return OkStatus();
}

cuda::SampleRowParams ToDevice(const ops::SamplingRow& in) {
  cuda::SampleRowParams p;
  p.seed = in.seed;
  p.position = uint64_t(in.position);
  p.seq_index = in.seq_index;
  p.temperature = in.temperature;
  p.top_k = in.top_k;
  p.top_p = in.top_p;
  p.min_p = in.min_p;
  p.repetition_penalty = in.repetition_penalty;
  p.frequency_penalty = in.frequency_penalty;
  p.presence_penalty = in.presence_penalty;
  p.num_logprobs = in.num_logprobs;
  p.first_edit = in.first_edit;
  p.num_edits = in.num_edits;
  return p;
}

cuda::SampleEdit ToDevice(const ops::LogitEdit& in) {
  cuda::SampleEdit e;
  e.token = in.token;
  switch (in.kind) {
    case ops::LogitEdit::Kind::kBias:
      e.kind = cuda::kSampleEditBias;
      break;
    case ops::LogitEdit::Kind::kBan:
      e.kind = cuda::kSampleEditBan;
      break;
    case ops::LogitEdit::Kind::kPenalty:
      e.kind = cuda::kSampleEditPenalty;
      break;
  }
  e.bias = in.bias;
  e.output_count = in.output_count;
  return e;
}

}  // namespace

Status CudaSampler::Sample(const ops::SamplingRows& request, float* logits, int64_t vocab,
                           int64_t ld, cudaStream_t stream) {
  const int64_t rows = request.num_rows, num_edits = request.num_edits;
  if (rows == 0) return OkStatus();
  host_params_.resize(size_t(rows));
  bool any_logprobs = false;
  for (int64_t r = 0; r < rows; ++r) {
    const ops::SamplingRow& row = request.rows[r];
    if (row.first_edit < 0 || row.num_edits < 0 ||
        row.first_edit + int64_t(row.num_edits) > num_edits)
      return InvalidArgument("sampling row {}: edits [{}, +{}) outside the {} edits", r,
                             row.first_edit, row.num_edits, num_edits);
    if (row.num_logprobs > ops::kMaxTopLogprobs)
      return InvalidArgument("sampling row {}: {} top logprobs, at most {}", r, row.num_logprobs,
                             ops::kMaxTopLogprobs);
    host_params_[size_t(r)] = ToDevice(row);
    any_logprobs = any_logprobs || row.num_logprobs >= 0;
  }
  host_edits_.resize(size_t(num_edits));
  for (int64_t e = 0; e < num_edits; ++e) host_edits_[size_t(e)] = ToDevice(request.edits[e]);

  // The outputs packed in one buffer: tokens, logprobs, top tokens, top logprobs.
  const size_t top = size_t(rows) * cuda::kMaxSampleTopLogprobs;
  ATOM_RETURN_IF_ERROR(Grow(params_, size_t(rows) * sizeof(cuda::SampleRowParams)));
  ATOM_RETURN_IF_ERROR(Grow(edits_, size_t(num_edits) * sizeof(cuda::SampleEdit)));
  ATOM_RETURN_IF_ERROR(Grow(workspace_, cuda::SampleRowsWorkspaceBytes(rows, vocab, num_edits)));
  ATOM_RETURN_IF_ERROR(Grow(outputs_, (2 * size_t(rows) + 2 * top) * 4));
  ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(params_.data(), host_params_.data(),
                                            size_t(rows) * sizeof(cuda::SampleRowParams),
                                            cudaMemcpyHostToDevice, stream));
  if (num_edits > 0) {
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(edits_.data(), host_edits_.data(),
                                              size_t(num_edits) * sizeof(cuda::SampleEdit),
                                              cudaMemcpyHostToDevice, stream));
  }
  cuda::SampleRowsOutput out;
  out.tokens = static_cast<int32_t*>(outputs_.data());
  out.logprobs = reinterpret_cast<float*>(out.tokens + rows);
  out.top_tokens = reinterpret_cast<int32_t*>(out.logprobs + rows);
  out.top_logprobs = reinterpret_cast<float*>(out.top_tokens + top);
  ATOM_RETURN_IF_ERROR(cuda::SampleRows(logits, rows, vocab, ld,
                                        static_cast<const cuda::SampleRowParams*>(params_.data()),
                                        static_cast<const cuda::SampleEdit*>(edits_.data()),
                                        num_edits, out, workspace_.data(), stream));
  auto to_host = [&](void* dst, const void* src, size_t bytes) {
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream);
  };
  ATOM_CUDA_RETURN_IF_ERROR(to_host(request.tokens, out.tokens, size_t(rows) * 4));
  ATOM_CUDA_RETURN_IF_ERROR(to_host(request.logprobs, out.logprobs, size_t(rows) * 4));
  if (any_logprobs) {  // otherwise the lists are all empty: not worth the copies
    ATOM_CUDA_RETURN_IF_ERROR(to_host(request.top_tokens, out.top_tokens, top * 4));
    ATOM_CUDA_RETURN_IF_ERROR(to_host(request.top_logprobs, out.top_logprobs, top * 4));
  }
  return OkStatus();
}

}  // namespace atom
