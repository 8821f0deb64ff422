#include "backends/cuda/moe_experts_upload.h"

#include <algorithm>
#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda {
namespace {

Status CheckTensor(const Tensor& t, DType dtype, std::initializer_list<int64_t> dims,
                   const char* name) {
  if (!t.defined()) return InvalidArgument("MoE upload: {} is missing", name);
  if (t.dtype() != dtype || !t.is_contiguous() ||
      t.shape().ToVector() != std::vector<int64_t>(dims))
    return InvalidArgument("MoE upload: {} is {}, expected {} contiguous {}", name, t.ToString(),
                           DTypeName(dtype), Shape(dims).ToString());
  return OkStatus();
}

StatusOr<DeviceBuffer> UploadBytes(const Tensor& host, cudaStream_t stream) {
  ATOM_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(host.nbytes()));
  ATOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(buffer.data(), host.data(), host.nbytes(), cudaMemcpyHostToDevice, stream));
  return buffer;
}

uint8_t MaxByte(const Tensor& t) {
  const uint8_t* p = t.data_as<const uint8_t>();
  return t.numel() == 0 ? 0 : *std::max_element(p, p + t.numel());
}

// One MXFP4 matrix of all experts: staged one expert at a time, re-laid out on the device.
Status UploadMxfp4Matrix(const Tensor& blocks, const Tensor& scales, int experts, int rows,
                         int cols, bool gate_up, bool wide, DeviceBuffer& staging,
                         DeviceBuffer& codes, DeviceBuffer& out_scales, cudaStream_t stream) {
  const size_t block_bytes = size_t(rows) * (cols / 32) * 16,
               scale_bytes = size_t(rows) * (cols / 32);
  ATOM_ASSIGN_OR_RETURN(
      codes, DeviceBuffer::Allocate(size_t(experts) * moe::Mxfp4CodeWords(rows, cols) * 4));
  ATOM_ASSIGN_OR_RETURN(out_scales,
                        DeviceBuffer::Allocate(size_t(experts) * moe::Mxfp4ScaleBytes(rows, cols)));
  uint8_t* stage = static_cast<uint8_t*>(staging.data());
  for (int e = 0; e < experts; ++e) {
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(stage,
                                              blocks.data_as<const uint8_t>() + e * block_bytes,
                                              block_bytes, cudaMemcpyHostToDevice, stream));
    ATOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(stage + block_bytes,
                                              scales.data_as<const uint8_t>() + e * scale_bytes,
                                              scale_bytes, cudaMemcpyHostToDevice, stream));
    ATOM_RETURN_IF_ERROR(moe::LaunchMxfp4Relayout(
        stage, stage + block_bytes, 1, rows, cols, gate_up, wide,
        static_cast<uint32_t*>(codes.data()) + e * moe::Mxfp4CodeWords(rows, cols),
        static_cast<uint8_t*>(out_scales.data()) + e * moe::Mxfp4ScaleBytes(rows, cols), stream));
  }
  return OkStatus();
}

}  // namespace

size_t MoeExpertsOnDevice::device_bytes() const {
  return gate_up_codes_.size() + gate_up_scales_.size() + down_codes_.size() + down_scales_.size() +
         gate_up_.size() + down_.size() + gate_up_bias_.size() + down_bias_.size();
}

StatusOr<MoeExpertsOnDevice> UploadMoeExperts(const ops::ExpertWeights& host, cudaStream_t stream) {
  const int e = host.num_experts, d = host.hidden, i = host.intermediate;
  if (e <= 0 || d <= 0 || i <= 0 || d % 32 != 0 || i % 32 != 0)
    return InvalidArgument("MoE upload: experts {}, hidden {}, intermediate {} (multiples of 32)",
                           e, d, i);
  MoeExpertsOnDevice out;
  MoeDeviceExperts& v = out.view_;
  v.num_experts = e;
  v.hidden = d;
  v.intermediate = i;
  v.swiglu_limit = host.swiglu_limit;
  v.swiglu_alpha = host.swiglu_alpha;
  ATOM_RETURN_IF_ERROR(CheckTensor(host.gate_up_bias, DType::kBF16, {e, 2 * i}, "gate_up_bias"));
  ATOM_RETURN_IF_ERROR(CheckTensor(host.down_bias, DType::kBF16, {e, d}, "down_bias"));
  ATOM_ASSIGN_OR_RETURN(out.gate_up_bias_, UploadBytes(host.gate_up_bias, stream));
  ATOM_ASSIGN_OR_RETURN(out.down_bias_, UploadBytes(host.down_bias, stream));
  v.gate_up_bias = static_cast<const __nv_bfloat16*>(out.gate_up_bias_.data());
  v.down_bias = static_cast<const __nv_bfloat16*>(out.down_bias_.data());

  if (host.format == ops::ExpertFormat::kBf16) {
    v.format = MoeExpertFormat::kBf16;
    ATOM_RETURN_IF_ERROR(CheckTensor(host.gate_up, DType::kBF16, {e, d, 2 * i}, "gate_up"));
    ATOM_RETURN_IF_ERROR(CheckTensor(host.down, DType::kBF16, {e, i, d}, "down"));
    ATOM_ASSIGN_OR_RETURN(out.gate_up_, UploadBytes(host.gate_up, stream));
    ATOM_ASSIGN_OR_RETURN(out.down_, UploadBytes(host.down, stream));
    v.gate_up = static_cast<const __nv_bfloat16*>(out.gate_up_.data());
    v.down = static_cast<const __nv_bfloat16*>(out.down_.data());
  } else {
    v.format = MoeExpertFormat::kMxfp4;
    ATOM_RETURN_IF_ERROR(
        CheckTensor(host.gate_up_blocks, DType::kU8, {e, 2 * i, d / 32, 16}, "gate_up_blocks"));
    ATOM_RETURN_IF_ERROR(
        CheckTensor(host.gate_up_scales, DType::kU8, {e, 2 * i, d / 32}, "gate_up_scales"));
    ATOM_RETURN_IF_ERROR(
        CheckTensor(host.down_blocks, DType::kU8, {e, d, i / 32, 16}, "down_blocks"));
    ATOM_RETURN_IF_ERROR(CheckTensor(host.down_scales, DType::kU8, {e, d, i / 32}, "down_scales"));
    v.wide_scales = std::max(MaxByte(host.gate_up_scales), MaxByte(host.down_scales)) > 128;
    const size_t staging_bytes =
        std::max(size_t(2 * i) * (d / 32), size_t(d) * (i / 32)) * 17;  // codes + scales
    ATOM_ASSIGN_OR_RETURN(DeviceBuffer staging, DeviceBuffer::Allocate(staging_bytes));
    ATOM_RETURN_IF_ERROR(UploadMxfp4Matrix(host.gate_up_blocks, host.gate_up_scales, e, 2 * i, d,
                                           /*gate_up=*/true, v.wide_scales, staging,
                                           out.gate_up_codes_, out.gate_up_scales_, stream));
    ATOM_RETURN_IF_ERROR(UploadMxfp4Matrix(host.down_blocks, host.down_scales, e, d, i,
                                           /*gate_up=*/false, v.wide_scales, staging,
                                           out.down_codes_, out.down_scales_, stream));
    ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));  // before `staging` is freed
    v.gate_up_codes = static_cast<const uint32_t*>(out.gate_up_codes_.data());
    v.gate_up_scales = static_cast<const uint8_t*>(out.gate_up_scales_.data());
    v.down_codes = static_cast<const uint32_t*>(out.down_codes_.data());
    v.down_scales = static_cast<const uint8_t*>(out.down_scales_.data());
  }
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return out;
}

}  // namespace atom::cuda
