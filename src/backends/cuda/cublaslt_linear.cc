#include "backends/cuda/cublaslt_linear.h"

#include <cublasLt.h>

#include <algorithm>
#include <vector>

#include "backends/cuda/bias_add.h"
#include "backends/cuda/cuda_check.h"

namespace atom::cuda {
namespace {

Status CublasError(cublasStatus_t status, std::string_view what) {
  return Internal("{} failed: {} ({})", what, cublasLtGetStatusName(status),
                  cublasLtGetStatusString(status));
}

#define ATOM_CUBLAS_RETURN_IF_ERROR(expr)                                                          \
  do {                                                                                             \
    if (cublasStatus_t atom_cublas_status_ = (expr); atom_cublas_status_ != CUBLAS_STATUS_SUCCESS) \
      return CublasError(atom_cublas_status_, #expr);                                              \
  } while (0)

// The largest power of two <= 16 that divides the address (16 for null).
int AlignmentOf(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a == 0 ? 16 : int(std::min<uintptr_t>(16, a & (~a + 1)));
}

cudaDataType_t CudaType(DType t) { return t == DType::kBF16 ? CUDA_R_16BF : CUDA_R_32F; }

bool OnDevice(const Tensor& t) { return t.device().type == DeviceType::kCuda; }

}  // namespace

// The descriptors of one problem and the algorithm chosen for it. Column-major view of the
// row-major problem: D [out, T] = op(A) · B with A = weight viewed as [in, out] (ld in, op = T)
// and B = x viewed as [in, T] (ld ld_x), so D viewed row-major is out [T, out] (ld ld_out) and
// the epilogue's bias (one per row of D) is one per output feature.
struct CublasLtLinear::MatmulPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  // The heuristic's candidates, best first; `chosen` is the one Linear runs.
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;
  int chosen = 0;
  bool fused_bias = false;  // bias through the epilogue; else AddBiasRows after the GEMM

  MatmulPlan() = default;
  MatmulPlan(const MatmulPlan&) = delete;
  MatmulPlan& operator=(const MatmulPlan&) = delete;
  ~MatmulPlan() { Reset(); }
  void Reset() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
    desc = nullptr, a = b = d = nullptr;
  }
};

StatusOr<std::unique_ptr<CublasLtLinear>> CublasLtLinear::Create(size_t workspace_bytes) {
  ATOM_ASSIGN_OR_RETURN(DeviceBuffer workspace, DeviceBuffer::Allocate(workspace_bytes));
  std::unique_ptr<CublasLtLinear> linear(new CublasLtLinear(std::move(workspace)));
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&linear->handle_));
  return linear;
}

CublasLtLinear::CublasLtLinear(DeviceBuffer workspace) : workspace_(std::move(workspace)) {}

CublasLtLinear::~CublasLtLinear() {
  plans_.clear();
  if (handle_) cublasLtDestroy(handle_);
}

StatusOr<CublasLtLinear::Key> CublasLtLinear::MakeKey(const Tensor& x, const Tensor& weight,
                                                      const Tensor& bias, const Tensor& out) const {
  if (!x.defined() || x.dtype() != DType::kBF16 || x.ndim() != 2 || !OnDevice(x) ||
      x.stride(1) != 1 || x.stride(0) < x.dim(1))
    return InvalidArgument(
        "linear: x must be a bf16 [T, in] device tensor with unit column "
        "stride, got {}",
        x.ToString());
  if (!weight.defined() || weight.dtype() != DType::kBF16 || weight.ndim() != 2 ||
      !OnDevice(weight) || !weight.is_contiguous() || weight.dim(1) != x.dim(1))
    return InvalidArgument(
        "linear: weight must be a contiguous bf16 [out, in = {}] device "
        "tensor, got {}",
        x.dim(1), weight.ToString());
  const int64_t out_features = weight.dim(0);
  if (!out.defined() || (out.dtype() != DType::kBF16 && out.dtype() != DType::kF32) ||
      out.ndim() != 2 || !OnDevice(out) || out.dim(0) != x.dim(0) || out.dim(1) != out_features ||
      out.stride(1) != 1 || out.stride(0) < out_features)
    return InvalidArgument(
        "linear: out must be a bf16 or f32 [T = {}, out = {}] device tensor "
        "with unit column stride, got {}",
        x.dim(0), out_features, out.ToString());
  if (bias.defined() && ((bias.dtype() != DType::kBF16 && bias.dtype() != DType::kF32) ||
                         !OnDevice(bias) || bias.numel() != out_features || !bias.is_contiguous()))
    return InvalidArgument(
        "linear: bias must be a contiguous bf16 or f32 [{}] device tensor, "
        "got {}",
        out_features, bias.ToString());
  if (x.dim(1) <= 0 || out_features <= 0 || x.dim(1) > INT32_MAX || out_features > INT32_MAX ||
      x.dim(0) > INT32_MAX)
    return InvalidArgument("linear: in {} and out {} must be in [1, 2^31)", x.dim(1), out_features);
  Key k{};
  k.tokens = x.dim(0), k.in = x.dim(1), k.out = out_features;
  k.ld_x = x.stride(0), k.ld_out = out.stride(0);
  k.out_dtype = int(out.dtype());
  k.bias_dtype = bias.defined() ? int(bias.dtype()) : -1;
  k.align_x = AlignmentOf(x.data()), k.align_w = AlignmentOf(weight.data());
  k.align_bias = AlignmentOf(bias.data()), k.align_out = AlignmentOf(out.data());
  return k;
}

Status CublasLtLinear::BuildPlan(const Key& key, bool fuse_bias, const void* bias_ptr,
                                 MatmulPlan& plan) {
  plan.Reset();
  plan.fused_bias = fuse_bias;
  const cudaDataType_t out_type = CudaType(DType(key.out_dtype));
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                             &transpose, sizeof(transpose)));
  ATOM_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)));
  if (fuse_bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    const int32_t bias_type = CudaType(DType(key.bias_dtype));
    ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        plan.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
    // The heuristic reads the pointer's alignment; Linear sets the real pointer on every call.
    ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
  }
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_16BF, uint64_t(key.in),
                                                         uint64_t(key.out), key.in));
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_16BF, uint64_t(key.in),
                                                         uint64_t(key.tokens), key.ld_x));
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan.d, out_type, uint64_t(key.out),
                                                         uint64_t(key.tokens), key.ld_out));

  cublasLtMatmulPreference_t pref = nullptr;
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t max_workspace = workspace_.size();
  const uint32_t align_a = key.align_w, align_b = key.align_x, align_d = key.align_out;
  cublasLtMatmulHeuristicResult_t results[kMaxCandidates] = {};
  int found = 0;
  cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace));
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                             &align_a, sizeof(align_a));
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                             &align_b, sizeof(align_b));
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                             &align_d, sizeof(align_d));
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                             &align_d, sizeof(align_d));
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulAlgoGetHeuristic(handle_, plan.desc, plan.a, plan.b, plan.d, plan.d, pref,
                                       kMaxCandidates, results, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS) return CublasError(s, "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    return Unimplemented(
        "linear: cuBLASLt has no algorithm for T {} in {} out {} ({} out, {} "
        "bias{})",
        key.tokens, key.in, key.out, DTypeName(DType(key.out_dtype)),
        key.bias_dtype < 0 ? "no" : DTypeName(DType(key.bias_dtype)),
        fuse_bias ? " in the epilogue" : "");
  plan.candidates.clear();
  for (int i = 0; i < found; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS) plan.candidates.push_back(results[i]);
  if (plan.candidates.empty())
    return Unimplemented("linear: no usable cuBLASLt algorithm for T {} in {} out {}", key.tokens,
                         key.in, key.out);
  plan.chosen = 0;
  return OkStatus();
}

StatusOr<CublasLtLinear::MatmulPlan*> CublasLtLinear::GetPlan(const Key& key,
                                                              const void* bias_ptr) {
  if (auto it = plans_.find(key); it != plans_.end()) return it->second.get();
  auto plan = std::make_unique<MatmulPlan>();
  Status s = BuildPlan(key, /*fuse_bias=*/key.bias_dtype >= 0, bias_ptr, *plan);
  // A (bias, out) dtype pair the epilogue does not take: GEMM, then AddBiasRows.
  if (!s.ok() && key.bias_dtype >= 0 && key.bias_dtype != key.out_dtype)
    s = BuildPlan(key, /*fuse_bias=*/false, nullptr, *plan);
  ATOM_RETURN_IF_ERROR(s);
  MatmulPlan* raw = plan.get();
  plans_.emplace(key, std::move(plan));
  return raw;
}

Status CublasLtLinear::Plan(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& out) {
  ATOM_ASSIGN_OR_RETURN(Key key, MakeKey(x, weight, bias, out));
  return GetPlan(key, bias.data()).status();
}

StatusOr<bool> CublasLtLinear::FusesBias(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                         const Tensor& out) {
  ATOM_ASSIGN_OR_RETURN(Key key, MakeKey(x, weight, bias, out));
  ATOM_ASSIGN_OR_RETURN(MatmulPlan * plan, GetPlan(key, bias.data()));
  return plan->fused_bias;
}

Status CublasLtLinear::Run(const MatmulPlan& plan, int algo, const Key& key, const Tensor& x,
                           const Tensor& weight, const Tensor& bias, const Tensor& out,
                           cudaStream_t stream) {
  if (plan.fused_bias) {
    const void* bias_ptr = bias.data();
    ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  const cublasLtMatmulHeuristicResult_t& c = plan.candidates[algo];
  ATOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(
      handle_, plan.desc, &alpha, weight.data(), plan.a, x.data(), plan.b, &beta, out.data(),
      plan.d, out.data(), plan.d, &c.algo, workspace_.data(), c.workspaceSize, stream));
  if (bias.defined() && !plan.fused_bias)
    return AddBiasRows(out.data(), out.dtype() == DType::kBF16, key.ld_out, bias.data(),
                       bias.dtype() == DType::kBF16, key.tokens, key.out, stream);
  return OkStatus();
}

Status CublasLtLinear::Linear(const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const Tensor& out, cudaStream_t stream) {
  ATOM_ASSIGN_OR_RETURN(Key key, MakeKey(x, weight, bias, out));
  if (key.tokens == 0) return OkStatus();
  ATOM_ASSIGN_OR_RETURN(MatmulPlan * plan, GetPlan(key, bias.data()));
  return Run(*plan, plan->chosen, key, x, weight, bias, out, stream);
}

StatusOr<int> CublasLtLinear::Tune(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   const Tensor& out, cudaStream_t stream, int repeats) {
  ATOM_ASSIGN_OR_RETURN(Key key, MakeKey(x, weight, bias, out));
  if (key.tokens == 0) return 0;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  ATOM_CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(stream, &capturing));
  if (capturing != cudaStreamCaptureStatusNone)
    return InvalidArgument("linear: Tune cannot run while the stream is being captured");
  ATOM_ASSIGN_OR_RETURN(MatmulPlan * plan, GetPlan(key, bias.data()));
  cudaEvent_t start = nullptr, stop = nullptr;
  ATOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  if (cudaError_t e = cudaEventCreate(&stop); e != cudaSuccess) {
    cudaEventDestroy(start);
    return CudaError(e, "cudaEventCreate");
  }
  // GPU milliseconds of `repeats` runs of candidate c, after one warm-up run.
  repeats = std::max(repeats, 1);
  auto time_candidate = [&](int c) -> StatusOr<float> {
    ATOM_RETURN_IF_ERROR(Run(*plan, c, key, x, weight, bias, out, stream));
    ATOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(start, stream));
    for (int r = 0; r < repeats; ++r)
      ATOM_RETURN_IF_ERROR(Run(*plan, c, key, x, weight, bias, out, stream));
    ATOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, stream));
    ATOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
    float ms = 0;
    ATOM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
    return ms;
  };
  int best = -1;
  float best_ms = 0;
  Status status;
  for (int c = 0; c < int(plan->candidates.size()); ++c) {
    StatusOr<float> ms = time_candidate(c);
    if (!ms.ok()) {
      // The heuristic's own choice must run; a later candidate that cannot is skipped.
      if (c == 0) {
        status = ms.status();
        break;
      }
      continue;
    }
    if (best < 0 || *ms < best_ms) best = c, best_ms = *ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  ATOM_RETURN_IF_ERROR(status);
  plan->chosen = best;
  return best;
}

}  // namespace atom::cuda
