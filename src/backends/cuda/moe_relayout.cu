// MXFP4 expert matrices: checkpoint layout → the kernels' layout (moe_mxfp4_layout.cuh), on the
// device, once at load.
#include "backends/cuda/moe_kernels.h"
#include "backends/cuda/moe_mxfp4_layout.cuh"

namespace atom::cuda::moe {
namespace {

// One thread per output code word (expert, tile, quad, lane, block); the q = 0 lane of each row
// also writes the block's scale.
__global__ void Mxfp4RelayoutKernel(const uint8_t* __restrict__ blocks,
                                    const uint8_t* __restrict__ scales, int64_t total_words,
                                    int rows, int cols, bool gate_up, bool wide,
                                    uint32_t* __restrict__ codes,
                                    uint8_t* __restrict__ out_scales) {
  const int groups = cols / 32, quads = Mxfp4Quads(cols), tiles = rows / kRowsPerTile;
  for (int64_t w = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; w < total_words;
       w += int64_t(gridDim.x) * blockDim.x) {
    const int b = int(w % kBlocksPerQuad);
    const int lane = int(w / kBlocksPerQuad % 32);
    const int64_t tile_quad = w / kWordsPerTileQuad;  // (expert·tiles + tile)·quads + quad
    const int quad = int(tile_quad % quads);
    const int64_t expert_tile = tile_quad / quads;
    const int tile = int(expert_tile % tiles);
    const int64_t expert = expert_tile / tiles;
    const int row = tile * kRowsPerTile + lane / 4, q = lane % 4;
    const int src_row = gate_up ? GateUpSourceRow(row) : row;
    const int group = quad * kBlocksPerQuad + b;
    uint32_t word = 0, scale = wide ? kWideScalePad : kNarrowScalePad;
    if (group < groups) {
      const int64_t block = (expert * rows + src_row) * groups + group;
      const uint8_t* bytes = blocks + block * 16 + 4 * q;
      word = PackMxfp4Word(uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 |
                           uint32_t(bytes[3]) << 24);
      scale = wide ? scales[block] : scales[block] + 126u;
    }
    codes[w] = word;
    if (q == 0)
      out_scales[tile_quad * kScalesPerTileQuad + (lane / 4) * kBlocksPerQuad + b] = uint8_t(scale);
  }
}

}  // namespace

Status LaunchMxfp4Relayout(const uint8_t* blocks, const uint8_t* scales, int experts, int rows,
                           int cols, bool gate_up, bool wide, uint32_t* codes, uint8_t* out_scales,
                           cudaStream_t stream) {
  if (experts <= 0) return InvalidArgument("MXFP4 relayout: experts = {}", experts);
  if (rows <= 0 || rows % 16 != 0) return InvalidArgument("MXFP4 relayout: rows = {}", rows);
  if (cols <= 0 || cols % 32 != 0) return InvalidArgument("MXFP4 relayout: cols = {}", cols);
  const int64_t total = experts * Mxfp4CodeWords(rows, cols);
  const int threads = 256;
  const int64_t blocks_needed = (total + threads - 1) / threads;
  const int grid = int(blocks_needed < 65536 ? blocks_needed : 65536);
  Mxfp4RelayoutKernel<<<grid, threads, 0, stream>>>(blocks, scales, total, rows, cols, gate_up,
                                                    wide, codes, out_scales);
  return LastLaunchStatus("Mxfp4RelayoutKernel");
}

}  // namespace atom::cuda::moe
