// MoE expert GEMMs for few tokens per expert (decode): bandwidth-bound streaming of the 4-bit
// weights, each routed expert's weights read once per call.
//
// Work items are (active expert, 16-row block): the block's two 8-row tiles over all of K are
// one contiguous range of the device layout (moe_mxfp4_layout.cuh). A persistent grid walks the
// items with a stride (the item count is known only on the device; the grid is sized for the
// host-known worst case). Each CTA streams its items through a kStages-deep cp.async pipeline
// in shared memory (codes, scales and the item's first 16 sorted pair indices), so two items per
// CTA are always in flight while one is computed. Computing an item: 8 warps split its K quads;
// each decodes its 4-bit codes in registers and runs mma.sync m16n8k16 with the weights as A
// (16 rows) and the expert's tokens as B (8 per mma, kGroups groups per pass; experts with more
// tokens take more passes over the same shared memory). The warps' partial sums go through
// shared memory (double-buffered, one barrier per pass) and warp 0 adds them in a fixed order and
// applies the epilogue: bias + clamped SwiGLU → bf16 activation (W1), or bias → f32 per pair (W2).
#include "backends/cuda/moe_device_util.cuh"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda::moe {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kStages = 3;
constexpr int kStageTokens = 16;  // sorted pair indices prefetched per item

__host__ __device__ inline int PartialBytes(int groups) { return 2 * kWarps * groups * 32 * 16; }
// One stage: codes [2 tiles][quads][512 B], scales [2][quads][32 B], sorted [16] i32.
__host__ __device__ inline int StageBytes(int quads) {
  return quads * 2 * (kWordsPerTileQuad * 4 + kScalesPerTileQuad) + kStageTokens * 4;
}
__host__ __device__ inline int SlotBytes(int max_slots) {
  return (max_slots * 16 + 127) / 128 * 128;
}

template <int kQuads, int kGroups, bool kGateUp, bool kWide>
__global__ void __launch_bounds__(kThreads) DecodeGemmKernel(const GemmArgs a, int max_slots) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int rows = a.rows, cols = a.cols, quads = Mxfp4Quads(cols), groups = cols / 32;
  float4* partial = reinterpret_cast<float4*>(smem);  // [2][kWarps][kGroups][32]
  int4* slots = reinterpret_cast<int4*>(smem + PartialBytes(kGroups));
  uint8_t* stages = smem + PartialBytes(kGroups) + SlotBytes(max_slots);
  const int stage_bytes = StageBytes(quads);
  __shared__ int num_active;

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, q = lane % 4;
  if (tid == 0) num_active = *a.num_active;
  for (int i = tid; i < max_slots; i += kThreads) slots[i] = a.slots[i];
  __syncthreads();

  const int row_blocks = rows / 16;
  const int total = num_active * row_blocks;
  const int first = blockIdx.x, stride = gridDim.x;
  const int my_items = first < total ? (total - first + stride - 1) / stride : 0;
  if (my_items == 0) return;
  const int64_t code_words = Mxfp4CodeWords(rows, cols), scale_bytes = Mxfp4ScaleBytes(rows, cols);

  auto load = [&](int stage, int item) {
    uint8_t* s = stages + stage * stage_bytes;
    const int4 info = slots[item / row_blocks];
    const int tile0 = 2 * (item % row_blocks);
    const uint8_t* codes = reinterpret_cast<const uint8_t*>(
        a.codes + info.x * code_words + int64_t(tile0) * quads * kWordsPerTileQuad);
    const uint8_t* scales =
        a.scales + info.x * scale_bytes + int64_t(tile0) * quads * kScalesPerTileQuad;
    const int code_chunks = quads * 2 * kWordsPerTileQuad / 4;  // 16-byte chunks
    for (int c = tid; c < code_chunks; c += kThreads) CpAsync16(s + c * 16, codes + c * 16, 16);
    uint8_t* s_scales = s + code_chunks * 16;
    const int scale_chunks = quads * 2 * kScalesPerTileQuad / 16;
    for (int c = tid; c < scale_chunks; c += kThreads)
      CpAsync16(s_scales + c * 16, scales + c * 16, 16);
    if (tid < kStageTokens && tid < info.z)
      CpAsync4(s_scales + scale_chunks * 16 + tid * 4, a.sorted + info.y + tid);
  };

  const int quad0 = warp * kQuads;  // this warp's quads: [quad0, quad0 + kQuads) ∩ [0, quads)
  int parity = 0;
  auto compute = [&](int stage, int item) {
    const uint8_t* s = stages + stage * stage_bytes;
    const uint8_t* s_scales = s + quads * 2 * kWordsPerTileQuad * 4;
    const int* s_sorted = reinterpret_cast<const int*>(s_scales + quads * 2 * kScalesPerTileQuad);
    const int4 info = slots[item / row_blocks];
    const int expert = info.x, begin = info.y, count = info.z, rb = item % row_blocks;
    const uint16_t* bias_row = reinterpret_cast<const uint16_t*>(a.bias) + int64_t(expert) * rows;
    uint32_t bias = 0;  // W1: (gate, up) of channel rb·8 + lane/4; W2: rows lane/4, lane/4 + 8
    if (warp == 0) {
      if (kGateUp) {
        bias = __ldg(reinterpret_cast<const uint32_t*>(bias_row) + rb * kRowsPerTile + lane / 4);
      } else {
        const int row = rb * 16 + lane / 4;
        bias = uint32_t(__ldg(bias_row + row)) | uint32_t(__ldg(bias_row + row + 8)) << 16;
      }
    }
    auto sorted_at = [&](int t) { return t < kStageTokens ? s_sorted[t] : a.sorted[begin + t]; };
    for (int pass = 0; pass < count; pass += 8 * kGroups) {
      const __nv_bfloat16* in_row[kGroups];
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        const int t = pass + g * 8 + lane / 4;
        in_row[g] = nullptr;
        if (t < count) in_row[g] = a.in + int64_t(kGateUp ? sorted_at(t) / a.k : begin + t) * cols;
      }
      float acc[kGroups][4];
#pragma unroll
      for (int g = 0; g < kGroups; ++g) acc[g][0] = acc[g][1] = acc[g][2] = acc[g][3] = 0.0f;
      // The activations of quad u + 1 are loaded while quad u is computed, so a pass waits
      // for one L1/L2 round trip of them, not one per 32-column block.
      auto load_x = [&](int quad, uint4(&x)[kBlocksPerQuad][kGroups]) {
#pragma unroll
        for (int b = 0; b < kBlocksPerQuad; ++b)
#pragma unroll
          for (int g = 0; g < kGroups; ++g) {
            const int block = quad * kBlocksPerQuad + b;
            x[b][g] = make_uint4(0, 0, 0, 0);
            if (in_row[g] != nullptr && quad < quads && block < groups)
              x[b][g] = __ldg(reinterpret_cast<const uint4*>(in_row[g] + block * 32 + q * 8));
          }
      };
      uint4 x_now[kBlocksPerQuad][kGroups], x_next[kBlocksPerQuad][kGroups];
      load_x(quad0, x_now);
#pragma unroll
      for (int u = 0; u < kQuads; ++u) {
        const int quad = quad0 + u;
        if (quad >= quads) break;
        if (u + 1 < kQuads) load_x(quad + 1, x_next);
        const uint4 c0 = *reinterpret_cast<const uint4*>(s + quad * 512 + lane * 16);
        const uint4 c1 = *reinterpret_cast<const uint4*>(s + (quads + quad) * 512 + lane * 16);
        const uint32_t s0 =
            *reinterpret_cast<const uint32_t*>(s_scales + quad * 32 + (lane / 4) * 4);
        const uint32_t s1 =
            *reinterpret_cast<const uint32_t*>(s_scales + (quads + quad) * 32 + (lane / 4) * 4);
#pragma unroll
        for (int b = 0; b < kBlocksPerQuad; ++b) {
          const int block = quad * kBlocksPerQuad + b;
          if (block >= groups) break;
          uint32_t w0[4], w1[4];
          DecodeMxfp4Word<kWide>(Word(c0, b), Mxfp4ScalePair<kWide>(s0, b), w0);
          DecodeMxfp4Word<kWide>(Word(c1, b), Mxfp4ScalePair<kWide>(s1, b), w1);
#pragma unroll
          for (int g = 0; g < kGroups; ++g) {
            const uint4 x = x_now[b][g];
            MmaBf16(acc[g], w0[0], w1[0], w0[1], w1[1], x.x, x.y);
            MmaBf16(acc[g], w0[2], w1[2], w0[3], w1[3], x.z, x.w);
          }
        }
        if (u + 1 < kQuads) {
#pragma unroll
          for (int b = 0; b < kBlocksPerQuad; ++b)
#pragma unroll
            for (int g = 0; g < kGroups; ++g) x_now[b][g] = x_next[b][g];
        }
      }
      float4* mine = partial + parity * (kWarps * kGroups * 32);
#pragma unroll
      for (int g = 0; g < kGroups; ++g)
        mine[(warp * kGroups + g) * 32 + lane] =
            make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
      __syncthreads();
      if (warp == 0) {
        const float b_lo = __uint_as_float(bias << 16), b_hi = __uint_as_float(bias & 0xFFFF0000u);
#pragma unroll
        for (int g = 0; g < kGroups; ++g) {
          float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
          for (int w = 0; w < kWarps; ++w) {
            const float4 p = mine[(w * kGroups + g) * 32 + lane];
            v[0] += p.x, v[1] += p.y, v[2] += p.z, v[3] += p.w;
          }
          // v[0..1]: row lane/4 of tile 0, tokens 2q, 2q+1; v[2..3]: row lane/4 of tile 1.
          const int token0 = pass + g * 8 + 2 * q;
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            if (token0 + j >= count) continue;
            if (kGateUp) {
              const int inter = rows / 2, channel = rb * kRowsPerTile + lane / 4;
              a.act[int64_t(begin + token0 + j) * inter + channel] =
                  __float2bfloat16_rn(SwiGlu(v[j] + b_lo, v[2 + j] + b_hi, a.limit, a.alpha));
            } else {
              const int row = rb * 16 + lane / 4;
              float* y = a.y + int64_t(sorted_at(token0 + j)) * rows;
              y[row] = v[j] + b_lo;
              y[row + 8] = v[2 + j] + b_hi;
            }
          }
        }
      }
      parity ^= 1;
    }
  };

#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < my_items) load(st, first + st * stride);
    CpAsyncCommit();
  }
  for (int i = 0; i < my_items; ++i) {
    CpAsyncWait<kStages - 2>();
    __syncthreads();
    const int ahead = i + kStages - 1;
    if (ahead < my_items) load(ahead % kStages, first + ahead * stride);
    CpAsyncCommit();
    compute(i % kStages, first + i * stride);
  }
  CpAsyncWait<0>();
}

template <int kQuads, int kGroups, bool kGateUp, bool kWide>
Status LaunchTyped(const GemmArgs& a, cudaStream_t stream) {
  auto* kernel = DecodeGemmKernel<kQuads, kGroups, kGateUp, kWide>;
  const int max_slots = a.num_experts < a.tokens * a.k ? a.num_experts : a.tokens * a.k;
  const int smem =
      PartialBytes(kGroups) + SlotBytes(max_slots) + kStages * StageBytes(Mxfp4Quads(a.cols));
  // Device properties, the attribute and the occupancy, looked up once per device and size.
  struct Cache {
    int smem = -1, sms = 0, per_sm = 0;
  };
  static thread_local Cache cache[8];
  int device = 0;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  Cache& c = cache[device % 8];
  if (c.smem != smem) {
    int optin = 0;
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&c.sms, cudaDevAttrMultiProcessorCount, device));
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    if (smem > optin)
      return InvalidArgument("MoE decode GEMM: needs {} bytes of shared memory, device allows {}",
                             smem, optin);
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&c.per_sm, kernel, kThreads, smem));
    if (c.per_sm < 1) c.per_sm = 1;
    c.smem = smem;
  }
  const int sms = c.sms, per_sm = c.per_sm;
  const int64_t max_items = int64_t(max_slots) * (a.rows / 16);
  const int64_t capacity = int64_t(sms) * per_sm;
  // As few CTAs as give every CTA the same number of items in the worst case.
  const int64_t per_cta = (max_items + capacity - 1) / capacity;
  const int grid = int((max_items + per_cta - 1) / per_cta);
  kernel<<<grid, kThreads, smem, stream>>>(a, max_slots);
  return LastLaunchStatus("DecodeGemmKernel");
}

template <int kQuads, int kGroups>
Status LaunchQuads(const GemmArgs& a, cudaStream_t stream) {
  if (a.gate_up)
    return a.wide ? LaunchTyped<kQuads, kGroups, true, true>(a, stream)
                  : LaunchTyped<kQuads, kGroups, true, false>(a, stream);
  return a.wide ? LaunchTyped<kQuads, kGroups, false, true>(a, stream)
                : LaunchTyped<kQuads, kGroups, false, false>(a, stream);
}

template <int kGroups>
Status LaunchGroups(const GemmArgs& a, cudaStream_t stream) {
  const int per_warp = (Mxfp4Quads(a.cols) + kWarps - 1) / kWarps;
  if (per_warp <= 1) return LaunchQuads<1, kGroups>(a, stream);
  if (per_warp <= 3) return LaunchQuads<3, kGroups>(a, stream);
  return LaunchQuads<4, kGroups>(a, stream);
}

}  // namespace

Status LaunchDecodeGemm(const GemmArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.rows % 16 != 0) return InvalidArgument("MoE decode GEMM: rows = {}", a.rows);
  if (a.cols <= 0 || a.cols % 32 != 0 || a.cols > kDecodeMaxCols)
    return InvalidArgument("MoE decode GEMM: cols = {} (a multiple of 32, at most {})", a.cols,
                           kDecodeMaxCols);
  if (a.num_experts <= 0 || a.num_experts > kMaxRoutingExperts)
    return InvalidArgument("MoE decode GEMM: num_experts = {}", a.num_experts);
  if (a.tokens <= 0) return OkStatus();
  // Tokens per pass: an expert has at most `tokens` of them.
  return a.tokens <= 8 ? LaunchGroups<1>(a, stream) : LaunchGroups<2>(a, stream);
}

}  // namespace atom::cuda::moe
