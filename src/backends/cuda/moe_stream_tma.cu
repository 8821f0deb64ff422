// MoE expert GEMMs for few tokens per expert on Hopper (MoeVariant kStreamTma, sm_90a): the
// work split of kStream (moe_stream.cu: one warp per (active expert, 16-row block, K split)
// item), but each warp's weights arrive by bulk copies (cp.async.bulk, the TMA engine) into a
// two-stage ring of its own in shared memory, completed on an mbarrier per stage. One lane
// issues four copies per chunk of kChunk quads (the codes and scales of both 8-row tiles, each a
// contiguous range), so the memory system sees 2 KB sequential requests instead of 512-byte
// warp loads, and the other lanes spend no issue slots on loads.
//
// Built only for sm_90 (the kernel body is empty in other images); LaunchStreamTmaGemm refuses
// to run where the loaded image is older (ops/cuda_kernel_selection.h picks it only where the
// sm_90a code is loaded).
#include "backends/cuda/moe_device_util.cuh"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda::moe {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kChunk = 4;                                 // quads per bulk-copy stage
constexpr int kStages = 2;                                // per warp
constexpr int kCodeBytes = kChunk * 512;                  // one tile's codes in a stage
constexpr int kScaleBytes = kChunk * kScalesPerTileQuad;  // one tile's scales in a stage
constexpr int kStageBytes = 2 * kCodeBytes + 2 * kScaleBytes;
constexpr int kSharedBytes = kWarps * kStages * kStageBytes + kWarps * kStages * 8;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void MbarrierInit(uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(SharedAddress(bar)) : "memory");
}
// The one arrival of the phase, announcing `bytes` of copies that will complete it.
__device__ __forceinline__ void MbarrierArriveExpect(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(SharedAddress(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void MbarrierWait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        " selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(SharedAddress(bar)), "r"(parity)
        : "memory");
  } while (!done);
}
// `bytes` (a multiple of 16) from global `src` to shared `dst`, completing on `bar`.
__device__ __forceinline__ void BulkCopy(void* dst, const void* src, uint32_t bytes,
                                         uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::
          "r"(SharedAddress(dst)),
      "l"(src), "r"(bytes), "r"(SharedAddress(bar))
      : "memory");
}
#endif

template <int kGroups, bool kGateUp, bool kWide>
__global__ void __launch_bounds__(kThreads) StreamTmaGemmKernel(const GemmArgs a, int splits) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ float4 partial[kWarps][kGroups][32];
  __shared__ int round_passes;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = lane % 4;
  uint8_t* ring = smem + warp * kStages * kStageBytes;
  uint64_t* bars =
      reinterpret_cast<uint64_t*>(smem + kWarps * kStages * kStageBytes) + warp * kStages;
  if (lane == 0) {
    for (int s = 0; s < kStages; ++s) MbarrierInit(&bars[s]);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncwarp();

  const int rows = a.rows, cols = a.cols, quads = Mxfp4Quads(cols), groups = cols / 32;
  const int row_blocks = rows / 16;
  const int total = *a.num_active * row_blocks;
  const int per_round = kWarps / splits;
  const int split = warp % splits;
  const int q_per_split = (quads + splits - 1) / splits;
  const int q_lo = split * q_per_split;
  const int q_hi = min(quads, q_lo + q_per_split);
  const int chunks = q_hi > q_lo ? (q_hi - q_lo + kChunk - 1) / kChunk : 0;
  const int64_t code_words = Mxfp4CodeWords(rows, cols), scale_bytes = Mxfp4ScaleBytes(rows, cols);
  uint32_t issued = 0, consumed = 0;  // chunks through this warp's ring so far (stage = n % 2)

  for (int round = blockIdx.x; round * per_round < total; round += gridDim.x) {
    const int item = round * per_round + warp / splits;
    const bool active = item < total;
    int4 info = make_int4(0, 0, 0, 0);
    int rb = 0;
    if (active) {
      info = a.slots[item / row_blocks];
      rb = item % row_blocks;
    }
    const int expert = info.x, begin = info.y, count = info.z;
    const uint8_t* tile0 = reinterpret_cast<const uint8_t*>(a.codes + expert * code_words) +
                           int64_t(2 * rb) * quads * 512;
    const uint8_t* tile1 = tile0 + int64_t(quads) * 512;
    const uint8_t* scales0 =
        a.scales + expert * scale_bytes + int64_t(2 * rb) * quads * kScalesPerTileQuad;
    const uint8_t* scales1 = scales0 + int64_t(quads) * kScalesPerTileQuad;
    // Lane 0 sends chunk c of this item into the next stage of the ring.
    auto issue = [&](int c) {
      const int u = q_lo + c * kChunk, n = min(kChunk, q_hi - u);
      const int stage = issued % kStages;
      uint8_t* s = ring + stage * kStageBytes;
      // The stage's previous contents were read through the generic proxy (this warp, synced).
      asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
      MbarrierArriveExpect(&bars[stage], uint32_t(n) * (2 * 512 + 2 * kScalesPerTileQuad));
      BulkCopy(s, tile0 + u * 512, n * 512, &bars[stage]);
      BulkCopy(s + kCodeBytes, tile1 + u * 512, n * 512, &bars[stage]);
      BulkCopy(s + 2 * kCodeBytes, scales0 + u * kScalesPerTileQuad, n * kScalesPerTileQuad,
               &bars[stage]);
      BulkCopy(s + 2 * kCodeBytes + kScaleBytes, scales1 + u * kScalesPerTileQuad,
               n * kScalesPerTileQuad, &bars[stage]);
      ++issued;
    };

    int passes = count > 0 ? (count + 8 * kGroups - 1) / (8 * kGroups) : 1;
    if (splits > 1) {
      if (threadIdx.x == 0) round_passes = 1;
      __syncthreads();
      if (lane == 0) atomicMax(&round_passes, passes);
      __syncthreads();
      passes = round_passes;
    }
    for (int pass = 0; pass < passes * 8 * kGroups; pass += 8 * kGroups) {
      const __nv_bfloat16* in_row[kGroups];
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        const int t = pass + g * 8 + lane / 4;
        in_row[g] = nullptr;
        if (active && t < count)
          in_row[g] = a.in + int64_t(kGateUp ? a.sorted[begin + t] / a.k : begin + t) * cols;
      }
      float acc[kGroups][4];
#pragma unroll
      for (int g = 0; g < kGroups; ++g) acc[g][0] = acc[g][1] = acc[g][2] = acc[g][3] = 0.0f;

      if (active && lane == 0)
        for (int c = 0; c < kStages && c < chunks; ++c) issue(c);
      for (int c = 0; active && c < chunks; ++c) {
        const int stage = consumed % kStages;
        MbarrierWait(&bars[stage], (consumed / kStages) & 1);
        const uint8_t* s = ring + stage * kStageBytes;
        const int u0 = q_lo + c * kChunk, n = min(kChunk, q_hi - u0);
#pragma unroll
        for (int j = 0; j < kChunk; ++j) {
          if (j >= n) break;
          const int u = u0 + j;
          const uint4 c0 = *reinterpret_cast<const uint4*>(s + j * 512 + lane * 16);
          const uint4 c1 = *reinterpret_cast<const uint4*>(s + kCodeBytes + j * 512 + lane * 16);
          const uint32_t s0 = *reinterpret_cast<const uint32_t*>(
              s + 2 * kCodeBytes + j * kScalesPerTileQuad + (lane / 4) * 4);
          const uint32_t s1 = *reinterpret_cast<const uint32_t*>(
              s + 2 * kCodeBytes + kScaleBytes + j * kScalesPerTileQuad + (lane / 4) * 4);
          uint4 x[kBlocksPerQuad][kGroups];
#pragma unroll
          for (int b = 0; b < kBlocksPerQuad; ++b)
#pragma unroll
            for (int g = 0; g < kGroups; ++g) {
              const int block = u * kBlocksPerQuad + b;
              x[b][g] = make_uint4(0, 0, 0, 0);
              if (in_row[g] != nullptr && block < groups)
                x[b][g] = __ldg(reinterpret_cast<const uint4*>(in_row[g] + block * 32 + q * 8));
            }
#pragma unroll
          for (int b = 0; b < kBlocksPerQuad; ++b) {
            if (u * kBlocksPerQuad + b >= groups) break;
            uint32_t w0[4], w1[4];
            DecodeMxfp4Word<kWide>(Word(c0, b), Mxfp4ScalePair<kWide>(s0, b), w0);
            DecodeMxfp4Word<kWide>(Word(c1, b), Mxfp4ScalePair<kWide>(s1, b), w1);
#pragma unroll
            for (int g = 0; g < kGroups; ++g) {
              MmaBf16(acc[g], w0[0], w1[0], w0[1], w1[1], x[b][g].x, x[b][g].y);
              MmaBf16(acc[g], w0[2], w1[2], w0[3], w1[3], x[b][g].z, x[b][g].w);
            }
          }
        }
        ++consumed;
        __syncwarp();  // every lane is done with the stage before it is refilled
        if (lane == 0 && c + kStages < chunks) issue(c + kStages);
      }

      if (splits > 1) {
#pragma unroll
        for (int g = 0; g < kGroups; ++g)
          partial[warp][g][lane] = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
        __syncthreads();
        if (split == 0) {
#pragma unroll
          for (int g = 0; g < kGroups; ++g)
            for (int t = 1; t < splits; ++t) {
              const float4 p = partial[warp + t][g][lane];
              acc[g][0] += p.x, acc[g][1] += p.y, acc[g][2] += p.z, acc[g][3] += p.w;
            }
        }
        __syncthreads();
      }
      if (active && split == 0) {
        const uint16_t* bias_row =
            reinterpret_cast<const uint16_t*>(a.bias) + int64_t(expert) * rows;
        uint32_t bias;
        if (kGateUp) {
          bias = __ldg(reinterpret_cast<const uint32_t*>(bias_row) + rb * kRowsPerTile + lane / 4);
        } else {
          const int row = rb * 16 + lane / 4;
          bias = uint32_t(__ldg(bias_row + row)) | uint32_t(__ldg(bias_row + row + 8)) << 16;
        }
        const float b_lo = __uint_as_float(bias << 16), b_hi = __uint_as_float(bias & 0xFFFF0000u);
#pragma unroll
        for (int g = 0; g < kGroups; ++g) {
          const int token0 = pass + g * 8 + 2 * q;
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            if (token0 + j >= count) continue;
            if (kGateUp) {
              const int inter = rows / 2, channel = rb * kRowsPerTile + lane / 4;
              a.act[int64_t(begin + token0 + j) * inter + channel] = __float2bfloat16_rn(
                  SwiGlu(acc[g][j] + b_lo, acc[g][2 + j] + b_hi, a.limit, a.alpha));
            } else {
              const int row = rb * 16 + lane / 4;
              float* y = a.y + int64_t(a.sorted[begin + token0 + j]) * rows;
              y[row] = acc[g][j] + b_lo;
              y[row + 8] = acc[g][2 + j] + b_hi;
            }
          }
        }
      }
    }
  }
#endif
}

template <int kGroups, bool kGateUp, bool kWide>
Status LaunchTyped(const GemmArgs& a, cudaStream_t stream) {
  auto* kernel = StreamTmaGemmKernel<kGroups, kGateUp, kWide>;
  struct Cache {
    int sms = 0, per_sm = 0, ptx = 0;
  };
  static thread_local Cache cache[8];
  int device = 0;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  Cache& c = cache[device % 8];
  if (c.sms == 0) {
    cudaFuncAttributes attributes{};
    ATOM_CUDA_RETURN_IF_ERROR(cudaFuncGetAttributes(&attributes, kernel));
    c.ptx = attributes.ptxVersion;
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&c.sms, cudaDevAttrMultiProcessorCount, device));
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes));
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&c.per_sm, kernel, kThreads, kSharedBytes));
    if (c.per_sm < 1) c.per_sm = 1;
  }
  if (c.ptx < 90)
    return Unimplemented(
        "MoE stream_tma GEMM: needs sm_90a code, the device runs sm_{} code (ATOM_CUDA_TUNED=OFF "
        "or not an sm_90 device)",
        c.ptx);
  const int max_slots = a.num_experts < a.tokens * a.k ? a.num_experts : a.tokens * a.k;
  const int64_t max_items = int64_t(max_slots) * (a.rows / 16);
  const int64_t warp_slots = int64_t(c.sms) * c.per_sm * kWarps;
  int splits = 1;
  while (splits < kWarps && max_items * splits * 2 <= warp_slots &&
         Mxfp4Quads(a.cols) / (splits * 2) >= 2 * kChunk)
    splits *= 2;
  const int64_t rounds = (max_items * splits + kWarps - 1) / kWarps;
  const int grid = int(rounds < int64_t(c.sms) * c.per_sm ? rounds : int64_t(c.sms) * c.per_sm);
  kernel<<<grid, kThreads, kSharedBytes, stream>>>(a, splits);
  return LastLaunchStatus("StreamTmaGemmKernel");
}

}  // namespace

int StreamTmaSharedBytes() { return kSharedBytes; }

Status LaunchStreamTmaGemm(const GemmArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.rows % 16 != 0)
    return InvalidArgument("MoE stream_tma GEMM: rows = {}", a.rows);
  if (a.cols <= 0 || a.cols % 32 != 0)
    return InvalidArgument("MoE stream_tma GEMM: cols = {} (a multiple of 32)", a.cols);
  if (a.num_experts <= 0 || a.num_experts > kMaxRoutingExperts)
    return InvalidArgument("MoE stream_tma GEMM: num_experts = {}", a.num_experts);
  if (a.tokens <= 0) return OkStatus();
  if (a.tokens <= 8) {
    if (a.gate_up)
      return a.wide ? LaunchTyped<1, true, true>(a, stream)
                    : LaunchTyped<1, true, false>(a, stream);
    return a.wide ? LaunchTyped<1, false, true>(a, stream)
                  : LaunchTyped<1, false, false>(a, stream);
  }
  if (a.gate_up)
    return a.wide ? LaunchTyped<2, true, true>(a, stream) : LaunchTyped<2, true, false>(a, stream);
  return a.wide ? LaunchTyped<2, false, true>(a, stream) : LaunchTyped<2, false, false>(a, stream);
}

}  // namespace atom::cuda::moe
