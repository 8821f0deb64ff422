// The device layout of MXFP4 expert matrices and its in-register decoding to bf16 (CUDA only).
//
// A checkpoint matrix W [R out rows, C in columns] (spec §3.5: blocks of 32 columns, byte j of
// a block holds element 2j in its low nibble and 2j+1 in its high nibble, one e8m0 scale per
// block) is stored per expert as
//   codes  u32 [R/8 row tiles][Q quads][32 lanes][4 blocks]   (Q = ceil(C/128))
//   scales u8  [R/8 row tiles][Q quads][8 rows][4 blocks]
// where lane = 4·(row % 8) + q holds, for its row and each block of the quad, the 8 codes of
// columns 32·block + 8q .. 8q+7 (the checkpoint's bytes 4q..4q+3 of that block), bit-permuted by
// PackMxfp4Word. Blocks past C/32 are zero codes. So:
//   * one warp reading a (tile, quad) reads 512 contiguous bytes, 16 per lane;
//   * a lane's word is exactly its share of an mma.sync m16n8k16 fragment, B (tile = 8 columns
//     n, lane/4 = n) or A (two tiles = 16 rows), under one fixed permutation of k inside each
//     32-block: the pair of logical k (2q, 2q+1) of k-step s is physical 8q + 4s + {0,1}, and
//     (2q+8, 2q+9) is 8q + 4s + {2,3}. The activation operand uses the same permutation, which
//     makes a lane's activations for a block 8 contiguous bf16 (one 16-byte load);
//   * W1 (the fused gate/up projection, 2I rows interleaved gate, up, gate, up, ...) is stored
//     with its rows paired by tile: tile 2c holds the gates of channels 8c..8c+7 and tile 2c+1
//     their ups, so an accumulator fragment holds a channel's gate and up in the same thread.
//
// Decoding a word: the 4 registers (bf16x2, k pairs) a lane needs come out of the word with a
// rotate and a mask each (PackMxfp4Word places the bits for that), giving the e2m1 bits as a
// bf16 whose value is v·2^-126 (magnitude bits at bf16 bits 6..8, sign at 15: code 1 = 0.5 is
// the bf16 subnormal 2^-127). One exact multiply by 2^(s-1) gives v·2^(s-127) = the weight, for
// scale bytes s <= 128 (the narrow layout stores s + 126, the bf16 exponent field of 2^(s-1)).
// When some scale exceeds 128 the matrix is stored wide (scale byte s as is) and decoding
// multiplies twice: by 2^126, then by 2^(s-127) (s = 0: the subnormal 2^-127; s = 255: +inf).
// Every product is a power-of-two scaling of a value with <= 2 significant bits: exact.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace atom::cuda::moe {

inline constexpr int kRowsPerTile = 8;
inline constexpr int kBlocksPerQuad = 4;
inline constexpr int kWordsPerTileQuad = 32 * kBlocksPerQuad;             // 512 bytes
inline constexpr int kScalesPerTileQuad = kRowsPerTile * kBlocksPerQuad;  // 32 bytes
inline constexpr uint32_t kNarrowScalePad = 127 + 126;  // scale of padding blocks (codes are 0)
inline constexpr uint32_t kWideScalePad = 127;

__host__ __device__ inline int Mxfp4Quads(int cols) { return (cols / 32 + 3) / 4; }
// Per expert: u32 code words and scale bytes of an [rows, cols] matrix.
__host__ __device__ inline int64_t Mxfp4CodeWords(int rows, int cols) {
  return int64_t(rows) * Mxfp4Quads(cols) * kBlocksPerQuad * 4;
}
__host__ __device__ inline int64_t Mxfp4ScaleBytes(int rows, int cols) {
  return int64_t(rows) * Mxfp4Quads(cols) * kBlocksPerQuad;
}

// The checkpoint row of W1 stored at device row `row` (tile-paired gate/up, see above).
__host__ __device__ inline int GateUpSourceRow(int row) {
  const int tile = row / kRowsPerTile, channel = (tile / 2) * kRowsPerTile + row % kRowsPerTile;
  return 2 * channel + tile % 2;
}

// Where the 4-bit code of register r's low (lo = true) or high element goes in the packed word:
// the nibble's bit b (b = 0..2 magnitude, 3 sign) lands at bit Mxfp4BitPosition(r, lo, b).
// Registers 0..2 are the bf16x2 target positions {6,7,8,15 | 22,23,24,31} rotated left by 0, 3,
// 6; register 3 fills the remaining bits {0,1,3,4 | 16,17,19,20}.
__host__ __device__ inline int Mxfp4BitPosition(int r, bool lo, int b) {
  const int half = lo ? 0 : 16;
  if (r < 3) {
    const int target = (b < 3 ? 6 + b : 15) + half;
    return (target + 3 * r) % 32;
  }
  const int reg3[4] = {0, 1, 3, 4};
  return reg3[b] + half;
}

// The packed word for 4 checkpoint bytes (byte r holds the codes of register r: low nibble
// element 2r, high nibble 2r + 1 of the lane's 8 columns).
__host__ __device__ inline uint32_t PackMxfp4Word(uint32_t bytes) {
  uint32_t word = 0;
  for (int r = 0; r < 4; ++r) {
    const uint32_t byte = (bytes >> (8 * r)) & 0xFFu;
    for (int b = 0; b < 4; ++b) {
      word |= ((byte >> b) & 1u) << Mxfp4BitPosition(r, true, b);
      word |= ((byte >> (4 + b)) & 1u) << Mxfp4BitPosition(r, false, b);
    }
  }
  return word;
}

#ifdef __CUDACC__

__device__ __forceinline__ uint32_t Bf16x2Mul(uint32_t a, uint32_t b) {
  __nv_bfloat162 x, y;
  __builtin_memcpy(&x, &a, 4);
  __builtin_memcpy(&y, &b, 4);
  const __nv_bfloat162 z = __hmul2(x, y);
  uint32_t r;
  __builtin_memcpy(&r, &z, 4);
  return r;
}

// The bf16x2 multiplier for block b (0..3) of a lane's 4 scale bytes (see the file comment).
template <bool kWide>
__device__ __forceinline__ uint32_t Mxfp4ScalePair(uint32_t scales4, int b) {
  // Byte b into bits 0..7 and 16..23, zeros elsewhere, then into the bf16 exponent fields.
  const uint32_t spread = __byte_perm(scales4, 0u, 0x4040u | (b << 8) | b);
  const uint32_t pair = spread << 7;
  if (kWide && spread == 0) return 0x00400040u;  // s = 0: 2^-127 is a bf16 subnormal
  return pair;
}

// Decodes one packed word into the 4 bf16x2 registers of its lane (register r = physical
// columns 8q + 2r, 8q + 2r + 1 of its block), scaled by `pair` from Mxfp4ScalePair.
template <bool kWide>
__device__ __forceinline__ void DecodeMxfp4Word(uint32_t word, uint32_t pair, uint32_t (&out)[4]) {
  constexpr uint32_t kMask = 0x81C081C0u;  // bf16x2 sign + 3 low exponent/mantissa bits
  out[0] = word & kMask;
  out[1] = __funnelshift_r(word, word, 3) & kMask;
  out[2] = __funnelshift_r(word, word, 6) & kMask;
  out[3] = ((word << 6) & 0x00C000C0u) | ((word << 5) & 0x01000100u) | ((word << 11) & 0x80008000u);
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    if (kWide) out[r] = Bf16x2Mul(out[r], 0x7E807E80u);  // × 2^126: the e2m1 value itself
    out[r] = Bf16x2Mul(out[r], pair);
  }
}

#endif  // __CUDACC__

}  // namespace atom::cuda::moe
