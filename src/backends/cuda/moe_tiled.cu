// MoE expert GEMMs for many tokens per expert (prefill): a grouped GEMM over the routed pairs.
//
// CTA tile: kTileRows pairs (one expert's, consecutive in sorted order) × 128 weight rows
// (16 tiles of 8) × 128 K (one quad of 4 MXFP4 blocks), 256 threads = 8 warps as 2 (M) × 4 (N),
// each warp kTileRows/2 × 32. A 3-stage cp.async pipeline brings in the activation rows
// (gathered by token for W1, zero-filled past the expert's pairs and past K) and the raw 4-bit
// weights; the weights are decoded in registers (moe_mxfp4_layout.cuh) and fed as the B operand
// of mma.sync m16n8k16 bf16 with f32 accumulators. The epilogue adds the bias and applies the
// clamped SwiGLU (a warp's 32 columns are 2 gate tiles + their 2 up tiles) or writes f32 rows.
//
// Grid: (ceil(rows / 128), worst-case tile count pairs / kTileRows + min(E, pairs)); a CTA maps
// its tile index to (expert, first pair) through the device-side tile offsets of the routing,
// and exits when past their total.
#include "backends/cuda/moe_device_util.cuh"
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda::moe {
namespace {

constexpr int kThreads = 256;
constexpr int kStages = 3;
constexpr int kTilesPerCta = 16;  // 128 weight rows
constexpr int kQuadK = 128;

template <int kTileRows>
struct TiledSmem {
  static constexpr int kActBytes = kTileRows * kQuadK * 2;  // bf16 [rows][128], swizzled
  static constexpr int kCodeBytes = kTilesPerCta * kWordsPerTileQuad * 4;
  static constexpr int kScaleBytes = kTilesPerCta * kScalesPerTileQuad;
  static constexpr int kStageBytes = kActBytes + kCodeBytes + kScaleBytes;
  static constexpr int kBytes = kStages * kStageBytes;
};

// Byte offset of 16-byte chunk `chunk` (0..15) of activation row `row` in a stage: chunks of odd
// rows are XOR-swizzled by 4 so the 8 lanes of a 16-byte load phase (2 rows × 4 chunks) hit
// distinct banks.
__device__ __forceinline__ int ActOffset(int row, int chunk) {
  return row * (kQuadK * 2) + ((chunk ^ ((row & 1) << 2)) << 4);
}

template <int kTileRows, bool kGateUp, bool kWide>
__global__ void __launch_bounds__(kThreads, kTileRows == 64 ? 2 : 1)
    TiledGemmKernel(const GemmArgs a) {
  using Smem = TiledSmem<kTileRows>;
  constexpr int kWarpRows = kTileRows / 2;
  constexpr int kMTiles = kWarpRows / 16;
  constexpr int kRowsPerThread = kTileRows / 16;  // activation rows each thread loads per stage
  extern __shared__ __align__(128) uint8_t smem[];

  const int tile_index = blockIdx.y;
  const int num_experts = a.num_experts;
  if (tile_index >= a.tile_offsets[num_experts]) return;
  int lo = 0, hi = num_experts - 1;  // the last expert whose first tile is <= tile_index
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (a.tile_offsets[mid] <= tile_index)
      lo = mid;
    else
      hi = mid - 1;
  }
  const int expert = lo;
  const int begin = a.offsets[expert] + (tile_index - a.tile_offsets[expert]) * kTileRows;
  const int count = min(kTileRows, a.offsets[expert + 1] - begin);

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, q = lane % 4;
  const int rows = a.rows, cols = a.cols, quads = Mxfp4Quads(cols), groups = cols / 32;
  const int row_tiles = rows / kRowsPerTile, tile_base = blockIdx.x * kTilesPerCta;
  const uint32_t* codes = a.codes + expert * Mxfp4CodeWords(rows, cols);
  const uint8_t* scales = a.scales + expert * Mxfp4ScaleBytes(rows, cols);

  // This thread's activation sources: rows tid/16 + 16 i, 16-byte chunk tid % 16 of each quad.
  const int act_chunk = tid % 16;
  const __nv_bfloat16* act_src[kRowsPerThread];
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int row = tid / 16 + 16 * i;
    act_src[i] = nullptr;
    if (row < count) {
      const int pos = begin + row;
      act_src[i] =
          kGateUp ? a.in + int64_t(a.sorted[pos] / a.k) * cols : a.in + int64_t(pos) * cols;
    }
  }

  auto load_stage = [&](int stage, int quad) {
    uint8_t* s_act = smem + stage * Smem::kStageBytes;
    uint8_t* s_code = s_act + Smem::kActBytes;
    uint8_t* s_scale = s_code + Smem::kCodeBytes;
    const int col = quad * kQuadK + act_chunk * 8;
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int row = tid / 16 + 16 * i;
      const bool ok = act_src[i] != nullptr && col < cols;
      CpAsync16(s_act + ActOffset(row, act_chunk), ok ? act_src[i] + col : a.in, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < kTilesPerCta * 32 / kThreads; ++i) {
      const int c = tid + kThreads * i, tile = tile_base + c / 32;
      const bool ok = tile < row_tiles;
      const uint32_t* src =
          codes + (int64_t(tile) * quads + quad) * kWordsPerTileQuad + (c % 32) * 4;
      CpAsync16(s_code + c * 16, ok ? src : codes, ok ? 16 : 0);
    }
    if (tid < kTilesPerCta * 2) {
      const int tile = tile_base + tid / 2;
      const bool ok = tile < row_tiles;
      const uint8_t* src =
          scales + (int64_t(tile) * quads + quad) * kScalesPerTileQuad + (tid % 2) * 16;
      CpAsync16(s_scale + tid * 16, ok ? src : scales, ok ? 16 : 0);
    }
  };

  const int warp_m = warp / 4, warp_n = warp % 4;
  float acc[kMTiles][4][4];
#pragma unroll
  for (int mi = 0; mi < kMTiles; ++mi)
#pragma unroll
    for (int j = 0; j < 4; ++j)
      acc[mi][j][0] = acc[mi][j][1] = acc[mi][j][2] = acc[mi][j][3] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < quads) load_stage(s, s);
    CpAsyncCommit();
  }
  for (int quad = 0; quad < quads; ++quad) {
    CpAsyncWait<kStages - 2>();
    __syncthreads();
    const int next = quad + kStages - 1;
    if (next < quads) load_stage(next % kStages, next);
    CpAsyncCommit();

    const uint8_t* s_act = smem + (quad % kStages) * Smem::kStageBytes;
    const uint8_t* s_code = s_act + Smem::kActBytes;
    const uint8_t* s_scale = s_code + Smem::kCodeBytes;
    uint4 words[4];
    uint32_t scale4[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int t = warp_n * 4 + j;
      words[j] = *reinterpret_cast<const uint4*>(s_code + t * (kWordsPerTileQuad * 4) + lane * 16);
      scale4[j] =
          *reinterpret_cast<const uint32_t*>(s_scale + t * kScalesPerTileQuad + (lane / 4) * 4);
    }
#pragma unroll
    for (int b = 0; b < kBlocksPerQuad; ++b) {
      if (quad * kBlocksPerQuad + b >= groups) break;
      uint32_t w[4][4];
#pragma unroll
      for (int j = 0; j < 4; ++j)
        DecodeMxfp4Word<kWide>(Word(words[j], b), Mxfp4ScalePair<kWide>(scale4[j], b), w[j]);
#pragma unroll
      for (int mi = 0; mi < kMTiles; ++mi) {
        const int row = warp_m * kWarpRows + mi * 16 + lane / 4;
        const uint4 x0 = *reinterpret_cast<const uint4*>(s_act + ActOffset(row, b * 4 + q));
        const uint4 x1 = *reinterpret_cast<const uint4*>(s_act + ActOffset(row + 8, b * 4 + q));
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          MmaBf16(acc[mi][j], x0.x, x1.x, x0.y, x1.y, w[j][0], w[j][1]);
          MmaBf16(acc[mi][j], x0.z, x1.z, x0.w, x1.w, w[j][2], w[j][3]);
        }
      }
    }
  }
  CpAsyncWait<0>();

  // Epilogue. acc[mi][j]: rows (lane/4, lane/4 + 8) of m-tile mi, columns 2q, 2q+1 of tile j.
  const int warp_tile = tile_base + warp_n * 4;
  if (warp_tile >= row_tiles) return;  // rows are a multiple of 16: warps are all in or all out
#pragma unroll
  for (int mi = 0; mi < kMTiles; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = warp_m * kWarpRows + mi * 16 + lane / 4 + 8 * h;
      if (row >= count) continue;
      if (kGateUp) {
        const int inter = rows / 2;
        __nv_bfloat16* out = a.act + int64_t(begin + row) * inter;
#pragma unroll
        for (int j = 0; j < 4; j += 2) {
          if (warp_tile + j >= row_tiles) break;
          const int channel = ((warp_tile + j) / 2) * kRowsPerTile + 2 * q;
          const __nv_bfloat16* bias = a.bias + int64_t(expert) * rows + 2 * channel;
          const float a0 =
              SwiGlu(acc[mi][j][2 * h] + __bfloat162float(bias[0]),
                     acc[mi][j + 1][2 * h] + __bfloat162float(bias[1]), a.limit, a.alpha);
          const float a1 =
              SwiGlu(acc[mi][j][2 * h + 1] + __bfloat162float(bias[2]),
                     acc[mi][j + 1][2 * h + 1] + __bfloat162float(bias[3]), a.limit, a.alpha);
          *reinterpret_cast<uint32_t*>(out + channel) = PackBf16x2(a0, a1);
        }
      } else {
        float* out = a.y + int64_t(a.sorted[begin + row]) * rows;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (warp_tile + j >= row_tiles) break;
          const int col = (warp_tile + j) * kRowsPerTile + 2 * q;
          const __nv_bfloat16* bias = a.bias + int64_t(expert) * rows + col;
          *reinterpret_cast<float2*>(out + col) =
              make_float2(acc[mi][j][2 * h] + __bfloat162float(bias[0]),
                          acc[mi][j][2 * h + 1] + __bfloat162float(bias[1]));
        }
      }
    }
  }
}

template <int kTileRows, bool kGateUp, bool kWide>
Status LaunchTyped(const GemmArgs& a, cudaStream_t stream) {
  auto* kernel = TiledGemmKernel<kTileRows, kGateUp, kWide>;
  const int smem = TiledSmem<kTileRows>::kBytes;
  static thread_local bool configured[8] = {};  // the attribute, set once per device
  int device = 0;
  ATOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  if (!configured[device % 8]) {
    int optin = 0;
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    if (smem > optin)
      return InvalidArgument("MoE tiled GEMM: needs {} bytes of shared memory, device allows {}",
                             smem, optin);
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured[device % 8] = true;
  }
  const int pairs = a.tokens * a.k;
  const int max_tiles = pairs / kTileRows + (a.num_experts < pairs ? a.num_experts : pairs);
  if (max_tiles > 65535)
    return InvalidArgument("MoE tiled GEMM: tokens = {} needs {} row tiles (max 65535)", a.tokens,
                           max_tiles);
  const int row_tiles = a.rows / kRowsPerTile;
  const dim3 grid((row_tiles + kTilesPerCta - 1) / kTilesPerCta, max_tiles);
  kernel<<<grid, kThreads, smem, stream>>>(a);
  return LastLaunchStatus("TiledGemmKernel");
}

template <int kTileRows>
Status LaunchRows(const GemmArgs& a, cudaStream_t stream) {
  if (a.gate_up)
    return a.wide ? LaunchTyped<kTileRows, true, true>(a, stream)
                  : LaunchTyped<kTileRows, true, false>(a, stream);
  return a.wide ? LaunchTyped<kTileRows, false, true>(a, stream)
                : LaunchTyped<kTileRows, false, false>(a, stream);
}

}  // namespace

int TiledGemmSharedBytes(int tile_rows) {
  return tile_rows == 64 ? TiledSmem<64>::kBytes : TiledSmem<128>::kBytes;
}

Status LaunchTiledGemm(const GemmArgs& a, int tile_rows, cudaStream_t stream) {
  if (a.rows <= 0 || a.rows % 32 != 0) return InvalidArgument("MoE tiled GEMM: rows = {}", a.rows);
  if (a.cols <= 0 || a.cols % 32 != 0) return InvalidArgument("MoE tiled GEMM: cols = {}", a.cols);
  if (a.tokens <= 0) return OkStatus();
  if (tile_rows == 64) return LaunchRows<64>(a, stream);
  if (tile_rows == 128) return LaunchRows<128>(a, stream);
  return InvalidArgument("MoE tiled GEMM: tile_rows = {} (64 or 128)", tile_rows);
}

}  // namespace atom::cuda::moe
