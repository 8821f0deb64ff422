// MoE expert GEMMs for few tokens per expert, streamed through registers (MoeVariant kStream).
//
// Work items are (active expert, 16-row block, K split). A warp owns one item: it walks its range
// of K quads with the 4-bit weights loaded straight from global memory into registers kDepth
// quads ahead (no shared-memory staging, no block-wide barrier per item), decodes them in
// registers and runs mma.sync m16n8k16 with the weights as A (16 rows) and the expert's tokens
// as B (8 per mma, kGroups groups per pass; more tokens take more passes). Many small,
// independent warps (12-16 per SM) stream at once. When the row blocks are too few to give
// every SM that many warps (W2 at batch 1), K is split over `splits` warps of one CTA whose
// partial sums meet in shared memory and are added in a fixed order.
//
// Measured on an H100 (bench/RESULTS.md): a lookahead of 2 quads beats 4 and 8 (more registers,
// fewer resident warps), and bulk L2 prefetches of each warp's item (cp.async.bulk.prefetch.L2)
// made it slower, so neither is here.
//
// Epilogue as the decode kernel (moe_decode.cu): bias + clamped SwiGLU → bf16 activation (W1),
// bias → f32 per pair (W2). The summation order is fixed by (split, quad, block) and the split
// count by the host-known T, so a token's output depends on its own inputs and, in the last f32
// bits, on T (as the choice of variant does, moe.h), never on the other tokens' values.
#include "backends/cuda/bf16_vector.cuh"
#include "backends/cuda/moe_device_util.cuh"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda::moe {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kDepth = 2;  // quads of weights in flight per warp (1 KB per quad and warp)

// Weights of one (tile pair, quad) for one lane: codes of both tiles, their scale words.
struct QuadWeights {
  uint4 c0, c1;
  uint32_t s0, s1;
};

template <int kGroups, bool kGateUp, bool kWide>
__global__ void __launch_bounds__(kThreads) StreamGemmKernel(const GemmArgs a, int splits) {
  __shared__ float4 partial[kWarps][kGroups][32];
  __shared__ int round_passes;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = lane % 4;
  const int rows = a.rows, cols = a.cols, quads = Mxfp4Quads(cols), groups = cols / 32;
  const int row_blocks = rows / 16;
  const int total = *a.num_active * row_blocks;
  const int per_round = kWarps / splits;  // items per CTA round
  const int split = warp % splits;
  const int q_per_split = (quads + splits - 1) / splits;
  const int q_lo = split * q_per_split;
  const int q_hi = min(quads, q_lo + q_per_split);
  const int64_t code_words = Mxfp4CodeWords(rows, cols), scale_bytes = Mxfp4ScaleBytes(rows, cols);

  for (int round = blockIdx.x; round * per_round < total; round += gridDim.x) {
    const int item = round * per_round + warp / splits;
    const bool active = item < total;
    float acc[kGroups][4];
    int4 info = make_int4(0, 0, 0, 0);
    int rb = 0;
    if (active) {
      info = a.slots[item / row_blocks];
      rb = item % row_blocks;
    }
    const int expert = info.x, begin = info.y, count = info.z;
    // Tile 2·rb's quad u is at tile0 + u, tile 2·rb + 1's at tile1 + u (512 bytes each).
    const uint4* tile0 = reinterpret_cast<const uint4*>(a.codes + expert * code_words) +
                         int64_t(2 * rb) * quads * 32;
    const uint4* tile1 = tile0 + int64_t(quads) * 32;
    const uint8_t* scales0 =
        a.scales + expert * scale_bytes + int64_t(2 * rb) * quads * kScalesPerTileQuad;
    const uint8_t* scales1 = scales0 + int64_t(quads) * kScalesPerTileQuad;
    auto load = [&](int u, QuadWeights& w) {
      if (active && u < q_hi) {
        w.c0 = LoadStreaming(tile0 + u * 32 + lane);
        w.c1 = LoadStreaming(tile1 + u * 32 + lane);
        w.s0 =
            __ldg(reinterpret_cast<const uint32_t*>(scales0 + u * kScalesPerTileQuad) + lane / 4);
        w.s1 =
            __ldg(reinterpret_cast<const uint32_t*>(scales1 + u * kScalesPerTileQuad) + lane / 4);
      }
    };

    // Passes over the expert's tokens, 8·kGroups at a time (one pass for decode batches). Split
    // warps meet at barriers, so with splits every warp of the CTA makes the same passes.
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
#pragma unroll
      for (int g = 0; g < kGroups; ++g) acc[g][0] = acc[g][1] = acc[g][2] = acc[g][3] = 0.0f;

      QuadWeights ring[kDepth];
#pragma unroll
      for (int j = 0; j < kDepth; ++j) load(q_lo + j, ring[j]);
      for (int base = q_lo; base < q_hi; base += kDepth) {
#pragma unroll
        for (int j = 0; j < kDepth; ++j) {
          const int u = base + j;
          if (u >= q_hi) break;
          const QuadWeights w = ring[j];
          load(u + kDepth, ring[j]);
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
            DecodeMxfp4Word<kWide>(Word(w.c0, b), Mxfp4ScalePair<kWide>(w.s0, b), w0);
            DecodeMxfp4Word<kWide>(Word(w.c1, b), Mxfp4ScalePair<kWide>(w.s1, b), w1);
#pragma unroll
            for (int g = 0; g < kGroups; ++g) {
              MmaBf16(acc[g], w0[0], w1[0], w0[1], w1[1], x[b][g].x, x[b][g].y);
              MmaBf16(acc[g], w0[2], w1[2], w0[3], w1[3], x[b][g].z, x[b][g].w);
            }
          }
        }
      }

      // Split partial sums meet in shared memory; the item's split-0 warp adds them in order.
      if (splits > 1) {
#pragma unroll
        for (int g = 0; g < kGroups; ++g)
          partial[warp][g][lane] = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
        __syncthreads();
        if (split == 0) {
#pragma unroll
          for (int g = 0; g < kGroups; ++g)
            for (int s = 1; s < splits; ++s) {
              const float4 p = partial[warp + s][g][lane];
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
          // acc[0..1]: row lane/4 of tile 0, tokens 2q, 2q+1; acc[2..3]: the same of tile 1.
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
}

template <int kGroups, bool kGateUp, bool kWide>
Status LaunchTyped(const GemmArgs& a, cudaStream_t stream) {
  auto* kernel = StreamGemmKernel<kGroups, kGateUp, kWide>;
  struct Cache {
    int sms = 0, per_sm = 0;
  };
  static thread_local Cache cache[8];
  int device = 0;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  Cache& c = cache[device % 8];
  if (c.sms == 0) {
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&c.sms, cudaDevAttrMultiProcessorCount, device));
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&c.per_sm, kernel, kThreads, 0));
    if (c.per_sm < 1) c.per_sm = 1;
  }
  // The worst case the host knows: every routed expert distinct.
  const int max_slots = a.num_experts < a.tokens * a.k ? a.num_experts : a.tokens * a.k;
  const int64_t max_items = int64_t(max_slots) * (a.rows / 16);
  const int64_t warp_slots = int64_t(c.sms) * c.per_sm * kWarps;
  // Split K while the items leave warps idle, keeping >= 4 quads per split.
  int splits = 1;
  while (splits < kWarps && max_items * splits * 2 <= warp_slots &&
         Mxfp4Quads(a.cols) / (splits * 2) >= 4)
    splits *= 2;
  const int64_t rounds = (max_items * splits + kWarps - 1) / kWarps;
  const int grid = int(rounds < int64_t(c.sms) * c.per_sm ? rounds : int64_t(c.sms) * c.per_sm);
  kernel<<<grid, kThreads, 0, stream>>>(a, splits);
  return LastLaunchStatus("StreamGemmKernel");
}

}  // namespace

Status LaunchStreamGemm(const GemmArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.rows % 16 != 0) return InvalidArgument("MoE stream GEMM: rows = {}", a.rows);
  if (a.cols <= 0 || a.cols % 32 != 0)
    return InvalidArgument("MoE stream GEMM: cols = {} (a multiple of 32)", a.cols);
  if (a.num_experts <= 0 || a.num_experts > kMaxRoutingExperts)
    return InvalidArgument("MoE stream GEMM: num_experts = {}", a.num_experts);
  if (a.tokens <= 0) return OkStatus();
  // Tokens per pass: an expert has at most `tokens` of them.
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
