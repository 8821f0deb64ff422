// Dense linear layers through cuBLASLt: ops::LinearFn (src/ops/op_signatures.h) on bf16
// activations and checkpoint-layout bf16 weights, for the qkv, o, router and unembedding
// projections. Host code (C++20).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "backends/cuda/device_buffer.h"
#include "core/status.h"
#include "core/tensor.h"

// cuBLASLt's handle type, so that users of this header need not include cublasLt.h.
struct cublasLtContext;

namespace atom::cuda {

// Owns a cuBLASLt handle, a device workspace and a cache of matmul plans (descriptors plus the
// heuristic's chosen algorithm) keyed by problem shape, dtypes, leading dimensions and pointer
// alignment. NOT thread-safe: use one instance per thread (each engine thread owns one per GPU).
// Lives on the device that was current at Create; call it with that device current.
class CublasLtLinear {
 public:
  // Hopper's GEMM kernels want up to 32 MiB of workspace (split-K, stream-K).
  static constexpr size_t kDefaultWorkspaceBytes = size_t(32) << 20;

  static StatusOr<std::unique_ptr<CublasLtLinear>> Create(
      size_t workspace_bytes = kDefaultWorkspaceBytes);
  ~CublasLtLinear();
  CublasLtLinear(const CublasLtLinear&) = delete;
  CublasLtLinear& operator=(const CublasLtLinear&) = delete;

  // out = x · weightᵀ + bias, enqueued on `stream`:
  //   x: bf16 [T, in]; weight: bf16 [out, in] (row-major, the checkpoint's layout, read in
  //   place); bias: bf16 or f32 [out], or undefined; out: bf16 or f32 [T, out]. Device tensors;
  //   x and out may have a row stride (stride(0) >= columns, stride(1) == 1), weight and bias are
  //   contiguous; out must not overlap the inputs.
  // The products accumulate in f32; a bf16 out is rounded once (nearest even) after the bias.
  // The bias is added in cuBLASLt's epilogue where the library supports the (bias, out) dtype
  // pair (bias dtype == out dtype always; others are probed once per plan), else by a separate
  // kernel after the GEMM (bias_add.h) -- same result up to rounding. Differs from LinearFn in
  // dtypes and in one respect of its contract: cuBLASLt picks its algorithm per T, so an output
  // row's bits may depend on how many rows are in the batch.
  // The first call for a new shape runs the algorithm heuristic (host only: no device
  // allocation or synchronisation, so it is safe during graph capture, but it costs tens of
  // microseconds) and uses its first choice, unless Tune() picked another; later calls only
  // enqueue the GEMM. Use Plan() or Tune() ahead of capture to keep capture cheap.
  // Errors: InvalidArgument naming the operand (dtype, shape, device); Internal for a cuBLASLt
  // failure, naming the call and the library's status.
  Status Linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,
                cudaStream_t stream);

  // Prepares (and caches) the plan Linear would use for these operands without running it.
  Status Plan(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);

  // Plans, then times each of the heuristic's top kMaxCandidates algorithms on these operands
  // (`repeats` runs each, CUDA events on `stream`) and keeps the fastest for every later call
  // with this shape. For start-up only: it synchronises `stream` and overwrites `out`; it must
  // not run while `stream` is being captured (InvalidArgument). Operands small enough to stay
  // in L2 are timed warm. Returns the chosen candidate's index (0: the heuristic's own choice).
  // Measured on an H200 (bench/RESULTS.md): the unembedding gains 2-8%, qkv and o keep the
  // heuristic's choice within noise, and the L2-resident router got slower (timed warm, run
  // cold): tune only layers much larger than L2.
  static constexpr int kMaxCandidates = 8;
  StatusOr<int> Tune(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,
                     cudaStream_t stream, int repeats = 10);

  // Whether the plan for these operands adds the bias in the GEMM epilogue (false: separately,
  // or no bias). Plans first if needed.
  StatusOr<bool> FusesBias(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& out);

  size_t cached_plans() const { return plans_.size(); }

 private:
  // Everything the heuristic's answer depends on.
  struct Key {
    int64_t tokens, in, out, ld_x, ld_out;
    int out_dtype, bias_dtype;                    // bias_dtype -1: no bias
    int align_x, align_w, align_bias, align_out;  // bytes, a power of two <= 16
    auto Tie() const {
      return std::tie(tokens, in, out, ld_x, ld_out, out_dtype, bias_dtype, align_x, align_w,
                      align_bias, align_out);
    }
    bool operator<(const Key& o) const { return Tie() < o.Tie(); }
  };
  struct MatmulPlan;

  explicit CublasLtLinear(DeviceBuffer workspace);
  StatusOr<Key> MakeKey(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& out) const;
  StatusOr<MatmulPlan*> GetPlan(const Key& key, const void* bias_ptr);
  // Enqueues the GEMM (and the separate bias add, if the plan has one) with `algo`.
  Status Run(const MatmulPlan& plan, int algo, const Key& key, const Tensor& x,
             const Tensor& weight, const Tensor& bias, const Tensor& out, cudaStream_t stream);
  // Builds the plan; with fuse_bias the bias goes through the epilogue. Fails (without an error
  // that matters to the caller) when the heuristic finds no algorithm.
  Status BuildPlan(const Key& key, bool fuse_bias, const void* bias_ptr, MatmulPlan& plan);

  cublasLtContext* handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<Key, std::unique_ptr<MatmulPlan>> plans_;
};

}  // namespace atom::cuda
