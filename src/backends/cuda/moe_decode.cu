// MoE expert GEMMs for few tokens per expert (decode): bandwidth-bound streaming of the 4-bit
// weights. Grid: (rows / 16 row blocks) × (worst-case number of active experts); a CTA whose
// slot is past the device-side active count exits. In a CTA, 4 warps split the K quads of one
// 16-row block (two 8-row tiles); each warp first issues all its weight loads (16 bytes per
// lane per tile and quad), then decodes them in registers and runs mma.sync m16n8k16 with the
// weights as A (16 rows) and up to 8·kGroups tokens as B (8 tokens per mma). The warps' partial
// sums are added in a fixed order, then the epilogue (bias + SwiGLU, or bias) is applied. An
// expert with more than 8·kGroups tokens is handled in chunks, re-reading its weights (L2).
#include "backends/cuda/moe_device_util.cuh"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda::moe {
namespace {

constexpr int kWarps = 4;
constexpr int kUnroll = 6;  // quads whose loads a warp issues before the first use

template <int kGroups, bool kGateUp, bool kWide>
__global__ void __launch_bounds__(kWarps * 32) DecodeGemmKernel(const GemmArgs a) {
  const int slot = blockIdx.y;
  if (slot >= *a.num_active) return;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = lane % 4;
  const int expert = a.active[slot];
  const int begin = a.offsets[expert], count = a.offsets[expert + 1] - begin;
  const int rows = a.rows, cols = a.cols, quads = Mxfp4Quads(cols), groups = cols / 32;
  const int tile0 = blockIdx.x * 2;

  const uint4* codes0 =
      reinterpret_cast<const uint4*>(a.codes + expert * Mxfp4CodeWords(rows, cols) +
                                     int64_t(tile0) * quads * kWordsPerTileQuad) +
      lane;
  const uint4* codes1 = codes0 + quads * (kWordsPerTileQuad / 4);
  const uint32_t* scales0 =
      reinterpret_cast<const uint32_t*>(a.scales + expert * Mxfp4ScaleBytes(rows, cols) +
                                        int64_t(tile0) * quads * kScalesPerTileQuad) +
      lane / 4;
  const uint32_t* scales1 = scales0 + quads * (kScalesPerTileQuad / 4);

  const int per_warp = (quads + kWarps - 1) / kWarps;
  const int quad_begin = warp * per_warp;
  const int quad_end = min(quads, quad_begin + per_warp);

  __shared__ float4 partial[kWarps][kGroups][32];

  for (int chunk = 0; chunk < count; chunk += 8 * kGroups) {
    // The activation row of this lane's token (n = lane / 4) in each group of 8 tokens.
    const __nv_bfloat16* in_row[kGroups];
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int token = chunk + g * 8 + lane / 4;
      in_row[g] = nullptr;
      if (token < count) {
        const int pos = begin + token;
        in_row[g] =
            kGateUp ? a.in + int64_t(a.sorted[pos] / a.k) * cols : a.in + int64_t(pos) * cols;
      }
    }
    float acc[kGroups][4];
#pragma unroll
    for (int g = 0; g < kGroups; ++g) acc[g][0] = acc[g][1] = acc[g][2] = acc[g][3] = 0.0f;

    for (int quad0 = quad_begin; quad0 < quad_end; quad0 += kUnroll) {
      uint4 w0[kUnroll], w1[kUnroll];
      uint32_t s0[kUnroll], s1[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (quad0 + u < quad_end) {
          const int quad = quad0 + u;
          w0[u] = __ldg(codes0 + quad * (kWordsPerTileQuad / 4));
          w1[u] = __ldg(codes1 + quad * (kWordsPerTileQuad / 4));
          s0[u] = __ldg(scales0 + quad * (kScalesPerTileQuad / 4));
          s1[u] = __ldg(scales1 + quad * (kScalesPerTileQuad / 4));
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (quad0 + u >= quad_end) break;
#pragma unroll
        for (int b = 0; b < kBlocksPerQuad; ++b) {
          const int block = (quad0 + u) * kBlocksPerQuad + b;
          if (block >= groups) break;
          uint32_t ra[4], rb[4];
          DecodeMxfp4Word<kWide>(Word(w0[u], b), Mxfp4ScalePair<kWide>(s0[u], b), ra);
          DecodeMxfp4Word<kWide>(Word(w1[u], b), Mxfp4ScalePair<kWide>(s1[u], b), rb);
#pragma unroll
          for (int g = 0; g < kGroups; ++g) {
            uint4 xv = make_uint4(0, 0, 0, 0);
            if (in_row[g] != nullptr)
              xv = __ldg(reinterpret_cast<const uint4*>(in_row[g] + block * 32 + q * 8));
            MmaBf16(acc[g], ra[0], rb[0], ra[1], rb[1], xv.x, xv.y);
            MmaBf16(acc[g], ra[2], rb[2], ra[3], rb[3], xv.z, xv.w);
          }
        }
      }
    }

#pragma unroll
    for (int g = 0; g < kGroups; ++g)
      partial[warp][g][lane] = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
    __syncthreads();
    if (warp == 0) {
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
          const float4 p = partial[w][g][lane];
          v[0] += p.x, v[1] += p.y, v[2] += p.z, v[3] += p.w;
        }
        // v[0..1]: row lane/4 of tile 0, tokens 2q, 2q+1; v[2..3]: row lane/4 of tile 1.
        const int token0 = chunk + g * 8 + 2 * q;
        if (kGateUp) {
          const int inter = rows / 2, channel = blockIdx.x * kRowsPerTile + lane / 4;
          const __nv_bfloat16* bias = a.bias + int64_t(expert) * rows + 2 * channel;
          const float bg = __bfloat162float(bias[0]), bu = __bfloat162float(bias[1]);
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            if (token0 + j < count)
              a.act[int64_t(begin + token0 + j) * inter + channel] =
                  __float2bfloat16_rn(SwiGlu(v[j] + bg, v[2 + j] + bu, a.limit, a.alpha));
          }
        } else {
          const int row = blockIdx.x * 16 + lane / 4;
          const __nv_bfloat16* bias = a.bias + int64_t(expert) * rows;
          const float b0 = __bfloat162float(bias[row]), b1 = __bfloat162float(bias[row + 8]);
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            if (token0 + j < count) {
              float* y = a.y + int64_t(a.sorted[begin + token0 + j]) * rows;
              y[row] = v[j] + b0;
              y[row + 8] = v[2 + j] + b1;
            }
          }
        }
      }
    }
    __syncthreads();
  }
}

template <int kGroups, bool kGateUp>
Status Launch(const GemmArgs& a, cudaStream_t stream) {
  const dim3 grid(a.rows / 16, a.num_experts < a.tokens * a.k ? a.num_experts : a.tokens * a.k);
  if (a.wide)
    DecodeGemmKernel<kGroups, kGateUp, true><<<grid, kWarps * 32, 0, stream>>>(a);
  else
    DecodeGemmKernel<kGroups, kGateUp, false><<<grid, kWarps * 32, 0, stream>>>(a);
  return LastLaunchStatus("DecodeGemmKernel");
}

}  // namespace

Status LaunchDecodeGemm(const GemmArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.rows % 16 != 0) return InvalidArgument("MoE decode GEMM: rows = {}", a.rows);
  if (a.cols <= 0 || a.cols % 32 != 0) return InvalidArgument("MoE decode GEMM: cols = {}", a.cols);
  if (a.tokens <= 0) return OkStatus();
  if (a.rows / 16 > 65535 * 32) return InvalidArgument("MoE decode GEMM: rows = {}", a.rows);
  // Groups of 8 tokens per weight pass: an expert has at most `tokens` of them.
  if (a.tokens <= 8) return a.gate_up ? Launch<1, true>(a, stream) : Launch<1, false>(a, stream);
  return a.gate_up ? Launch<2, true>(a, stream) : Launch<2, false>(a, stream);
}

}  // namespace atom::cuda::moe
