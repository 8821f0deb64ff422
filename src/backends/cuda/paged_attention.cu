// Paged attention kernels (see paged_attention.h for the contract and the variants).
//
// Both kernels use the same building blocks: 64-key tiles of K and V copied from the paged cache
// into shared memory with cp.async (each key row addressed through the block table, so any block
// size works), a multi-stage pipeline, S = Q·Kᵀ and O += P·V on mma.sync m16n8k16 (bf16 inputs,
// f32 accumulators), and an online softmax in the log2 domain. The rows of the Q tile are
// (token, head-in-group) pairs of one KV head, so each K/V tile serves every query head of it.
//
// The kernels are templated on the cache element type KvT. bf16 tiles are copied as they are and
// read by the MMAs in place. fp8 e4m3 tiles are copied (half the bytes) into staging stages, and
// each thread converts the chunks it copied itself into one bf16 tile (its own cp.async writes
// are visible to it after cp.async.wait_group, so the conversion needs no extra barrier); the
// conversion is exact (every e4m3 value is a bf16 value), and the layer's scales are applied
// outside the MMAs: k_scale folded into the score scale, v_scale into the output normalisation.
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <type_traits>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/paged_attention.h"

namespace atom::cuda {
namespace {

using bf16 = __nv_bfloat16;
using fp8 = __nv_fp8_e4m3;

constexpr int kKeysPerTile = 64;
constexpr int kThreads = 128;  // four warps in every kernel
constexpr int kWarps = kThreads / 32;
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMinKeysPerSplit = 256;
constexpr int kMaxSplits = 256;
constexpr int kDecodeMaxGroup = 16;   // one m16 tile of query heads
constexpr int kPrefillMaxGroup = 64;  // a 64-row tile holds at least one token

struct KernelParams {
  const bf16* q;
  const void* k_cache;  // KvT elements
  const void* v_cache;
  const float* sinks;  // null: no sink
  bf16* out;
  float scale_log2;      // scale · log2(e): scores live in the log2 domain
  const float* k_scale;  // fp8 caches: one f32 each on the device (value = stored · scale)
  const float* v_scale;
  const int32_t* query_start;
  const int32_t* positions;
  const int32_t* block_tables;
  int num_q_heads;
  int num_kv_heads;
  int group;  // num_q_heads / num_kv_heads
  int block_size;
  int max_blocks_per_seq;
  int sliding_window;
  int num_splits;  // decode only
  float* ws_out;   // [T, Hq, splits, d] partial outputs, normalised by their own sum
  float2* ws_ml;   // [T, Hq, splits] (max, sum) of each partial, log2 domain
};

// ---------------------------------------------------------------------------------------------
// PTX wrappers (sm_80+).

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global → shared; zero-filled (nothing read) when !valid.
__device__ __forceinline__ void CpAsync16(uint32_t dst, const void* src, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// c += a · b for one m16n8k16 tile (a row-major 16×16, b column-major 16×8).
__device__ __forceinline__ void Mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as bf16x2, `lo` in the low half (the lower column of an mma fragment).
__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Two e4m3 bytes (the first in the low byte) as bf16x2, exactly: e4m3 → f16 (one cvt on sm_89+)
// → f32 → bf16, each step exact for e4m3 values (NaN stays NaN).
__device__ __forceinline__ uint32_t Fp8x2ToBf16x2(uint32_t pair) {
  const __half2 h(__nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(pair & 0xFFFFu), __NV_E4M3));
  const float2 f = __half22float2(h);
  return PackBf16(f.x, f.y);
}

// 2^x; 2^-inf = 0.
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// ---------------------------------------------------------------------------------------------
// Shared-memory tiles: rows of D bf16 (D/8 chunks of 16 bytes), chunk c of row r stored at chunk
// c ^ (r % 8), so the eight rows one ldmatrix phase reads fall in distinct banks.

template <int D>
__device__ __forceinline__ uint32_t TileOffset(int row, int chunk) {
  return uint32_t(row * (D * 2) + ((chunk ^ (row & 7)) << 4));
}

// Which rows and chunk of a 64-key tile thread `tid` copies, for cache elements KvT. A stage
// holds one tile of K (or V) as stored; kTileBytes is the bf16 tile the MMAs read (the stage
// itself for bf16, a separate converted tile for fp8).
template <int D, typename KvT>
struct TileCopy {
  static constexpr bool kConverts = !std::is_same_v<KvT, bf16>;
  static constexpr int kChunksPerRow = D * int(sizeof(KvT)) / 16;
  static constexpr int kRowsPerPass = kThreads / kChunksPerRow;
  static constexpr int kPasses = kKeysPerTile / kRowsPerPass;
  static constexpr int kStageBytes = kKeysPerTile * D * int(sizeof(KvT));
  static constexpr int kTileBytes = kKeysPerTile * D * 2;
  static_assert(std::is_same_v<KvT, bf16> || std::is_same_v<KvT, fp8>);
};

// Where chunk `chunk` of row `row` lands in a stage: the swizzled MMA layout for bf16, plain rows
// for fp8 staging (read back only by the thread that copied it).
template <int D, typename KvT>
__device__ __forceinline__ uint32_t StageOffset(int row, int chunk) {
  if constexpr (TileCopy<D, KvT>::kConverts)
    return uint32_t(row * D + chunk * 16);
  else
    return TileOffset<D>(row, chunk);
}

// The physical block of each key row this thread copies for the tile starting at `key0`, loaded
// one tile ahead of its use so the block-table read never stalls the copy.
template <int D, typename KvT>
__device__ __forceinline__ void LoadPages(int (&pages)[TileCopy<D, KvT>::kPasses],
                                          const int32_t* table_row, int key0, int key_end,
                                          int block_size, int tid) {
  using C = TileCopy<D, KvT>;
#pragma unroll
  for (int i = 0; i < C::kPasses; ++i) {
    const int key = key0 + tid / C::kChunksPerRow + i * C::kRowsPerPass;
    pages[i] = key < key_end ? __ldg(table_row + key / block_size) : 0;
  }
}

// Starts the copy of the K and V rows [key0, key0 + 64) into one stage; rows at or past
// `key_end` are zero-filled (a zero V row times a zero probability stays zero; NaN garbage from
// an unwritten slot would not).
template <int D, typename KvT>
__device__ __forceinline__ void IssueKvTile(uint32_t k_stage, uint32_t v_stage,
                                            const int (&pages)[TileCopy<D, KvT>::kPasses],
                                            const KernelParams& p, int kv_head, int key0,
                                            int key_end, int tid) {
  using C = TileCopy<D, KvT>;
  const int chunk = tid % C::kChunksPerRow;
  const int64_t slot_stride = int64_t(p.num_kv_heads) * D;
  const KvT* k_cache = static_cast<const KvT*>(p.k_cache);
  const KvT* v_cache = static_cast<const KvT*>(p.v_cache);
#pragma unroll
  for (int i = 0; i < C::kPasses; ++i) {
    const int row = tid / C::kChunksPerRow + i * C::kRowsPerPass;
    const int key = key0 + row;
    const bool valid = key < key_end;
    const int64_t slot = int64_t(pages[i]) * p.block_size + key % p.block_size;
    const int64_t offset =
        valid ? slot * slot_stride + int64_t(kv_head) * D + chunk * (16 / int(sizeof(KvT))) : 0;
    const uint32_t dst = StageOffset<D, KvT>(row, chunk);
    CpAsync16(k_stage + dst, k_cache + offset, valid);
    CpAsync16(v_stage + dst, v_cache + offset, valid);
  }
}

// fp8 only: converts the chunks this thread copied into the K and V stages (its own cp.async
// group for them complete) into the bf16 tiles the MMAs read. The caller's barrier after this
// publishes the tiles; the barrier that ended the previous tile freed them.
template <int D, typename KvT>
__device__ __forceinline__ void ConvertKvTile(uint32_t k_stage, uint32_t v_stage, uint32_t k_tile,
                                              uint32_t v_tile, int tid) {
  using C = TileCopy<D, KvT>;
  const int chunk = tid % C::kChunksPerRow;
#pragma unroll
  for (int i = 0; i < C::kPasses; ++i) {
    const int row = tid / C::kChunksPerRow + i * C::kRowsPerPass;
    const uint32_t src = StageOffset<D, KvT>(row, chunk);
    // 16 e4m3 values = bf16 chunks 2·chunk and 2·chunk + 1 of the row.
    const uint32_t k_dst0 = k_tile + TileOffset<D>(row, 2 * chunk);
    const uint32_t k_dst1 = k_tile + TileOffset<D>(row, 2 * chunk + 1);
    const uint32_t v_dst0 = v_tile + TileOffset<D>(row, 2 * chunk);
    const uint32_t v_dst1 = v_tile + TileOffset<D>(row, 2 * chunk + 1);
#pragma unroll
    for (int kv = 0; kv < 2; ++kv) {
      // Shared-memory accesses stay in asm volatile: ordered after the cp.async wait.
      uint32_t words[4];
      asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n"
                   : "=r"(words[0]), "=r"(words[1]), "=r"(words[2]), "=r"(words[3])
                   : "r"((kv == 0 ? k_stage : v_stage) + src));
      uint32_t out[8];
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        out[2 * w] = Fp8x2ToBf16x2(words[w]);
        out[2 * w + 1] = Fp8x2ToBf16x2(words[w] >> 16);
      }
      const uint32_t dst0 = kv == 0 ? k_dst0 : v_dst0, dst1 = kv == 0 ? k_dst1 : v_dst1;
      asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(dst0), "r"(out[0]),
                   "r"(out[1]), "r"(out[2]), "r"(out[3]));
      asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(dst1), "r"(out[4]),
                   "r"(out[5]), "r"(out[6]), "r"(out[7]));
    }
  }
}

// The scales a kernel applies for cache elements KvT: k_scale joins the score scale (log2
// domain), v_scale the output normalisation. bf16 caches have neither (compile-time 1).
template <typename KvT>
struct KvScales {
  float score_log2, out;
  __device__ __forceinline__ explicit KvScales(const KernelParams& p) {
    if constexpr (std::is_same_v<KvT, bf16>) {
      score_log2 = p.scale_log2;
      out = 1.0f;
    } else {
      score_log2 = p.scale_log2 * __ldg(p.k_scale);
      out = __ldg(p.v_scale);
    }
  }
};

// The K/V part of a kernel's shared memory (after its Q rows): STAGES stages of K, then STAGES of
// V, as stored; for fp8 then the converted bf16 K and V tiles. kBytes matches KvSmemBytes.
template <int D, int STAGES, typename KvT>
struct KvSmem {
  using C = TileCopy<D, KvT>;
  static constexpr int kBytes =
      2 * STAGES * C::kStageBytes + (C::kConverts ? 2 * C::kTileBytes : 0);
  uint32_t k_stages, v_stages, k_converted, v_converted;  // shared-memory addresses

  __device__ __forceinline__ explicit KvSmem(const unsigned char* base) {
    k_stages = SmemAddr(base);
    v_stages = k_stages + STAGES * C::kStageBytes;
    k_converted = v_stages + STAGES * C::kStageBytes;
    v_converted = k_converted + C::kTileBytes;
  }
  __device__ __forceinline__ uint32_t KStage(int tile) const {
    return k_stages + (tile % STAGES) * C::kStageBytes;
  }
  __device__ __forceinline__ uint32_t VStage(int tile) const {
    return v_stages + (tile % STAGES) * C::kStageBytes;
  }
  // The bf16 tiles the MMAs read for tile `tile`: its stage (bf16) or the converted tile (fp8).
  __device__ __forceinline__ uint32_t KTile(int tile) const {
    return C::kConverts ? k_converted : KStage(tile);
  }
  __device__ __forceinline__ uint32_t VTile(int tile) const {
    return C::kConverts ? v_converted : VStage(tile);
  }
  // Waits for this thread's copies of tile `tile` (STAGES - 1 later groups may stay in flight)
  // and, for fp8, converts them. REQUIRES a barrier after it before the tiles are read, and one
  // since the previous tile's last read.
  __device__ __forceinline__ void Land(int tile, int tid) const {
    CpAsyncWait<STAGES - 1>();
    if constexpr (C::kConverts)
      ConvertKvTile<D, KvT>(KStage(tile), VStage(tile), k_converted, v_converted, tid);
  }
};

// Online-softmax step for the two rows (g, g + 8) of an m16 tile whose scores (log2 domain,
// masked to -inf) are in s: rescales o and l to the new running max m, turns s into
// probabilities. Rows are spread over a quad of lanes: max is reduced across the quad, l stays a
// per-lane partial sum until the end.
template <int NT, int DT>
__device__ __forceinline__ void OnlineSoftmax(float (&s)[NT][4], float (&m)[2], float (&l)[2],
                                              float (&o)[DT][4]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = m[r];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    // All keys masked so far: shift by 0 so exp2(-inf - shift) = 0 instead of NaN.
    const float shift = mx == -INFINITY ? 0.0f : mx;
    const float correction = Exp2(m[r] - shift);
    m[r] = mx;
    float sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      s[nt][2 * r] = Exp2(s[nt][2 * r] - shift);
      s[nt][2 * r + 1] = Exp2(s[nt][2 * r + 1] - shift);
      sum += s[nt][2 * r] + s[nt][2 * r + 1];
    }
    l[r] = l[r] * correction + sum;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][2 * r] *= correction;
      o[dt][2 * r + 1] *= correction;
    }
  }
}

// The first key a query at `pos` sees.
__device__ __forceinline__ int FirstVisibleKey(int pos, int window) {
  return window > 0 ? max(0, pos - window + 1) : 0;
}

// Keys per split of a decode query seeing `num_keys` keys: whole tiles, so only the last tile of
// a split is partial. Splits at or past ceil(num_keys / result) are empty.
__host__ __device__ __forceinline__ int KeysPerSplit(int num_keys, int num_splits) {
  const int per = (num_keys + num_splits - 1) / num_splits;
  return (per + kKeysPerTile - 1) / kKeysPerTile * kKeysPerTile;
}

// ---------------------------------------------------------------------------------------------
// Decode: grid (num_splits, Hkv, num_seqs). Sequences with other than one query token exit. The
// CTA's 16 query rows are the group's heads (rows >= group are zero padding); warp w takes keys
// [16w, 16w + 16) of every tile, and the four warps' states are merged at the end.

template <int D, int STAGES, typename KvT>
__global__ void __launch_bounds__(kThreads) DecodeKernel(const KernelParams p) {
  using C = TileCopy<D, KvT>;
  using Kv = KvSmem<D, STAGES, KvT>;
  constexpr int DT = D / 8;        // output n-tiles
  constexpr int kQChunks = D / 8;  // 16-byte chunks of a bf16 Q row
  // The warps' merge reuses the K/V memory: f32 [kWarps][16][D] outputs, [kWarps][16] (m, l).
  static_assert(Kv::kBytes >= kWarps * 16 * (D + 2) * 4);
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* s_q = smem;              // [16][D] bf16
  unsigned char* s_k = s_q + 16 * D * 2;  // K/V stages (KvSmem)

  const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int token = p.query_start[seq];
  if (p.query_start[seq + 1] - token != 1) return;
  const int pos = p.positions[token];
  const int first_key = FirstVisibleKey(pos, p.sliding_window);
  const int keys_per_split = KeysPerSplit(pos + 1 - first_key, p.num_splits);
  const int begin = first_key + split * keys_per_split;
  if (begin > pos) return;
  const int end = min(begin + keys_per_split, pos + 1);
  const int num_tiles = (end - begin + kKeysPerTile - 1) / kKeysPerTile;
  const int32_t* table_row = p.block_tables + int64_t(seq) * p.max_blocks_per_seq;
  const uint32_t q_base = SmemAddr(s_q);
  const Kv kv(s_k);
  const KvScales<KvT> scales(p);

  // Q rows (group heads of this KV head), then the first STAGES - 1 tiles.
  for (int idx = tid; idx < 16 * kQChunks; idx += kThreads) {
    const int row = idx / kQChunks, chunk = idx % kQChunks;
    const bool valid = row < p.group;
    const bf16* src =
        p.q + (int64_t(token) * p.num_q_heads + kv_head * p.group + row) * D + chunk * 8;
    CpAsync16(q_base + TileOffset<D>(row, chunk), valid ? src : p.q, valid);
  }
  int pages[C::kPasses];
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < num_tiles) {
      LoadPages<D, KvT>(pages, table_row, begin + st * kKeysPerTile, end, p.block_size, tid);
      IssueKvTile<D, KvT>(kv.KStage(st), kv.VStage(st), pages, p, kv_head,
                          begin + st * kKeysPerTile, end, tid);
    }
    CpAsyncCommit();  // Q travels in the first group
  }
  LoadPages<D, KvT>(pages, table_row, begin + (STAGES - 1) * kKeysPerTile, end, p.block_size, tid);

  CpAsyncWait<STAGES - 2>();
  __syncthreads();
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    LdMatrixX4(qf[kk],
               q_base + TileOffset<D>((lane % 8) + ((lane / 8) % 2) * 8, 2 * kk + lane / 16));

  float o[DT][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  for (int t = 0; t < num_tiles; ++t) {
    const int next = t + STAGES - 1;
    if (next < num_tiles)
      IssueKvTile<D, KvT>(kv.KStage(next), kv.VStage(next), pages, p, kv_head,
                          begin + next * kKeysPerTile, end, tid);
    CpAsyncCommit();
    LoadPages<D, KvT>(pages, table_row, begin + (next + 1) * kKeysPerTile, end, p.block_size, tid);
    kv.Land(t, tid);
    __syncthreads();

    const uint32_t k_tile = kv.KTile(t);
    const uint32_t v_tile = kv.VTile(t);
    const int key0 = begin + t * kKeysPerTile + warp * 16;
    float s[2][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t b[4];
      LdMatrixX4(b, k_tile + TileOffset<D>(warp * 16 + (lane % 8) + (lane / 16) * 8,
                                           2 * kk + (lane / 8) % 2));
      Mma16816(s[0], qf[kk], b[0], b[1]);
      Mma16816(s[1], qf[kk], b[2], b[3]);
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = key0 + nt * 8 + (lane % 4) * 2 + (e & 1);
        s[nt][e] = key < end ? s[nt][e] * scales.score_log2 : -INFINITY;
      }
    OnlineSoftmax(s, m, l, o);
    const uint32_t a[4] = {PackBf16(s[0][0], s[0][1]), PackBf16(s[0][2], s[0][3]),
                           PackBf16(s[1][0], s[1][1]), PackBf16(s[1][2], s[1][3])};
#pragma unroll
    for (int np = 0; np < D / 16; ++np) {
      uint32_t b[4];
      LdMatrixX4Trans(b, v_tile + TileOffset<D>(warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8,
                                                2 * np + lane / 16));
      Mma16816(o[2 * np], a, b[0], b[1]);
      Mma16816(o[2 * np + 1], a, b[2], b[3]);
    }
    __syncthreads();
  }
  CpAsyncWait<0>();  // only empty groups remain; the stages are free for the merge
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }

  // Merge the warps: each writes its (m, l, o) rows, then every thread combines elements.
  float* s_o = reinterpret_cast<float*>(s_k);  // [kWarps][16][D]
  float* s_m = s_o + kWarps * 16 * D;          // [kWarps][16]
  float* s_l = s_m + kWarps * 16;
  const int g = lane / 4;
#pragma unroll
  for (int dt = 0; dt < DT; ++dt) {
    const int c = dt * 8 + (lane % 4) * 2;
    s_o[(warp * 16 + g) * D + c] = o[dt][0];
    s_o[(warp * 16 + g) * D + c + 1] = o[dt][1];
    s_o[(warp * 16 + g + 8) * D + c] = o[dt][2];
    s_o[(warp * 16 + g + 8) * D + c + 1] = o[dt][3];
  }
  if (lane % 4 == 0) {
    s_m[warp * 16 + g] = m[0];
    s_m[warp * 16 + g + 8] = m[1];
    s_l[warp * 16 + g] = l[0];
    s_l[warp * 16 + g + 8] = l[1];
  }
  __syncthreads();
  for (int idx = tid; idx < p.group * D; idx += kThreads) {
    const int row = idx / D, c = idx % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, s_m[w * 16 + row]);
    float sum = 0.0f, acc = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float f = Exp2(s_m[w * 16 + row] - mx);  // warps that saw no key: m = -inf → 0
      sum += f * s_l[w * 16 + row];
      acc += f * s_o[(w * 16 + row) * D + c];
    }
    const int head = kv_head * p.group + row;
    const int64_t out_row = int64_t(token) * p.num_q_heads + head;
    if (p.num_splits == 1) {
      const float sink = p.sinks ? p.sinks[head] * kLog2e : -INFINITY;
      const float total = fmaxf(mx, sink);
      const float scale = Exp2(mx - total);
      const float denom = sum * scale + Exp2(sink - total);
      p.out[out_row * D + c] = __float2bfloat16_rn(acc * scale * scales.out / denom);
    } else {
      // Partials carry v_scale: the combine is linear in them.
      const int64_t part = out_row * p.num_splits + split;
      p.ws_out[part * D + c] = acc / sum * scales.out;
      if (c == 0) p.ws_ml[part] = make_float2(mx, sum);
    }
  }
}

// Combines the splits of each decode query: grid (Hq, num_seqs), D threads.
template <int D>
__global__ void __launch_bounds__(D) SplitCombineKernel(const KernelParams p) {
  const int head = blockIdx.x, seq = blockIdx.y, c = threadIdx.x;
  const int token = p.query_start[seq];
  if (p.query_start[seq + 1] - token != 1) return;
  const int pos = p.positions[token];
  const int num_keys = pos + 1 - FirstVisibleKey(pos, p.sliding_window);
  const int keys_per_split = KeysPerSplit(num_keys, p.num_splits);
  const int used = (num_keys + keys_per_split - 1) / keys_per_split;
  const int64_t out_row = int64_t(token) * p.num_q_heads + head;
  const int64_t part0 = out_row * p.num_splits;
  const float sink = p.sinks ? p.sinks[head] * kLog2e : -INFINITY;
  float mx = sink;
  for (int i = 0; i < used; ++i) mx = fmaxf(mx, p.ws_ml[part0 + i].x);
  float denom = Exp2(sink - mx), acc = 0.0f;
  for (int i = 0; i < used; ++i) {
    const float2 ml = p.ws_ml[part0 + i];
    const float w = Exp2(ml.x - mx) * ml.y;
    denom += w;
    acc += w * p.ws_out[(part0 + i) * D + c];
  }
  p.out[out_row * D + c] = __float2bfloat16_rn(acc / denom);
}

// ---------------------------------------------------------------------------------------------
// Prefill / varlen: grid (query tiles, num_seqs, Hkv). A CTA owns ROWS = 64·MT rows, i.e.
// ROWS / group consecutive tokens of one sequence times the group's heads; warp w owns rows
// [16·MT·w, 16·MT·(w+1)). Every warp walks the same key tiles, from the first key any of the
// CTA's tokens sees to the last. Masking runs only on tiles some token sees in part.

template <int D, int MT, int STAGES, typename KvT>
__global__ void __launch_bounds__(kThreads)
    PrefillKernel(const KernelParams p, int skip_single_token_seqs) {
  using C = TileCopy<D, KvT>;
  using Kv = KvSmem<D, STAGES, KvT>;
  constexpr int ROWS = kWarps * MT * 16;
  constexpr int NT = kKeysPerTile / 8;  // score n-tiles
  constexpr int DT = D / 8;             // output n-tiles
  constexpr int kQChunks = D / 8;       // 16-byte chunks of a bf16 Q row
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* s_q = smem;                // [ROWS][D] bf16
  unsigned char* s_k = s_q + ROWS * D * 2;  // K/V stages (KvSmem)
  __shared__ int s_range[4];  // min first key, max position, max first key, min position

  const int seq = blockIdx.y, kv_head = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int q_begin = p.query_start[seq], q_end = p.query_start[seq + 1];
  if (q_end <= q_begin || (skip_single_token_seqs && q_end - q_begin == 1)) return;
  const int tokens_per_cta = ROWS / p.group;
  const int tok0 = q_begin + blockIdx.x * tokens_per_cta;
  if (tok0 >= q_end) return;
  const int num_tok = min(tokens_per_cta, q_end - tok0);

  if (tid == 0) {
    s_range[0] = INT_MAX;
    s_range[1] = INT_MIN;
    s_range[2] = INT_MIN;
    s_range[3] = INT_MAX;
  }
  const uint32_t q_base = SmemAddr(s_q);
  const Kv kv(s_k);
  const KvScales<KvT> scales(p);
  for (int idx = tid; idx < ROWS * kQChunks; idx += kThreads) {
    const int row = idx / kQChunks, chunk = idx % kQChunks;
    const int tok = row / p.group;
    const bool valid = tok < num_tok;
    const bf16* src =
        p.q +
        (int64_t(tok0 + tok) * p.num_q_heads + kv_head * p.group + (row - tok * p.group)) * D +
        chunk * 8;
    CpAsync16(q_base + TileOffset<D>(row, chunk), valid ? src : p.q, valid);
  }
  __syncthreads();
  for (int i = tid; i < num_tok; i += kThreads) {
    const int pos = p.positions[tok0 + i];
    const int first = FirstVisibleKey(pos, p.sliding_window);
    atomicMin(&s_range[0], first);
    atomicMax(&s_range[1], pos);
    atomicMax(&s_range[2], first);
    atomicMin(&s_range[3], pos);
  }
  __syncthreads();
  const int begin = s_range[0], end = s_range[1] + 1;
  const int all_first = s_range[2], all_last = s_range[3];
  const int num_tiles = (end - begin + kKeysPerTile - 1) / kKeysPerTile;
  const int32_t* table_row = p.block_tables + int64_t(seq) * p.max_blocks_per_seq;

  // Each thread's rows: (m-tile mt, half h) is row 16·(MT·warp + mt) + lane/4 + 8h.
  int row_first[MT][2], row_last[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int tok = (16 * (MT * warp + mt) + lane / 4 + 8 * h) / p.group;
      const int pos = tok < num_tok ? p.positions[tok0 + tok] : -1;  // padding sees nothing
      row_last[mt][h] = pos;
      row_first[mt][h] = tok < num_tok ? FirstVisibleKey(pos, p.sliding_window) : INT_MAX;
    }

  int pages[C::kPasses];
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < num_tiles) {
      LoadPages<D, KvT>(pages, table_row, begin + st * kKeysPerTile, end, p.block_size, tid);
      IssueKvTile<D, KvT>(kv.KStage(st), kv.VStage(st), pages, p, kv_head,
                          begin + st * kKeysPerTile, end, tid);
    }
    CpAsyncCommit();  // Q travels in the first group
  }
  LoadPages<D, KvT>(pages, table_row, begin + (STAGES - 1) * kKeysPerTile, end, p.block_size, tid);
  CpAsyncWait<STAGES - 2>();
  __syncthreads();
  uint32_t qf[MT][D / 16][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      LdMatrixX4(qf[mt][kk],
                 q_base + TileOffset<D>(16 * (MT * warp + mt) + (lane % 8) + ((lane / 8) % 2) * 8,
                                        2 * kk + lane / 16));

  float o[MT][DT][4] = {};
  float m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
    for (int h = 0; h < 2; ++h) m[mt][h] = -INFINITY, l[mt][h] = 0.0f;

  for (int t = 0; t < num_tiles; ++t) {
    const int next = t + STAGES - 1;
    if (next < num_tiles)
      IssueKvTile<D, KvT>(kv.KStage(next), kv.VStage(next), pages, p, kv_head,
                          begin + next * kKeysPerTile, end, tid);
    CpAsyncCommit();
    LoadPages<D, KvT>(pages, table_row, begin + (next + 1) * kKeysPerTile, end, p.block_size, tid);
    kv.Land(t, tid);
    __syncthreads();

    const uint32_t k_tile = kv.KTile(t);
    const uint32_t v_tile = kv.VTile(t);
    const int key0 = begin + t * kKeysPerTile;
    float s[MT][NT][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];
        LdMatrixX4(b, k_tile + TileOffset<D>(16 * np + (lane % 8) + (lane / 16) * 8,
                                             2 * kk + (lane / 8) % 2));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          Mma16816(s[mt][2 * np], qf[mt][kk], b[0], b[1]);
          Mma16816(s[mt][2 * np + 1], qf[mt][kk], b[2], b[3]);
        }
      }
    const bool whole_tile = key0 >= all_first && key0 + kKeysPerTile - 1 <= all_last;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + nt * 8 + (lane % 4) * 2 + (e & 1);
          const bool visible =
              whole_tile || (key >= row_first[mt][e / 2] && key <= row_last[mt][e / 2]);
          s[mt][nt][e] = visible ? s[mt][nt][e] * scales.score_log2 : -INFINITY;
        }
      OnlineSoftmax(s[mt], m[mt], l[mt], o[mt]);
    }
#pragma unroll
    for (int kk = 0; kk < NT / 2; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        a[mt][0] = PackBf16(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = PackBf16(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = PackBf16(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = PackBf16(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int np = 0; np < D / 16; ++np) {
        uint32_t b[4];
        LdMatrixX4Trans(b, v_tile + TileOffset<D>(16 * kk + (lane % 8) + ((lane / 8) % 2) * 8,
                                                  2 * np + lane / 16));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          Mma16816(o[mt][2 * np], a[mt], b[0], b[1]);
          Mma16816(o[mt][2 * np + 1], a[mt], b[2], b[3]);
        }
      }
    }
    __syncthreads();
  }
  CpAsyncWait<0>();

#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float sum = l[mt][h];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int row = 16 * (MT * warp + mt) + lane / 4 + 8 * h;
      const int tok = row / p.group;
      if (tok >= num_tok) continue;
      const int head = kv_head * p.group + (row - tok * p.group);
      const float sink = p.sinks ? p.sinks[head] * kLog2e : -INFINITY;
      const float total = fmaxf(m[mt][h], sink);
      const float scale = Exp2(m[mt][h] - total);
      const float inv = scale * scales.out / (sum * scale + Exp2(sink - total));
      bf16* dst = p.out + (int64_t(tok0 + tok) * p.num_q_heads + head) * D + (lane % 4) * 2;
#pragma unroll
      for (int dt = 0; dt < DT; ++dt)
        *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) =
            __floats2bfloat162_rn(o[mt][dt][2 * h] * inv, o[mt][dt][2 * h + 1] * inv);
    }
}

// ---------------------------------------------------------------------------------------------
// Host side.

constexpr int PrefillTilesPerWarp(int head_dim) { return head_dim == 64 ? 2 : 1; }

bool IsFp8(PagedKvDType cache_dtype) { return cache_dtype == PagedKvDType::kFp8E4M3; }

// KvSmem<D, stages, KvT>::kBytes on the host.
size_t KvSmemBytes(int head_dim, int stages, PagedKvDType cache_dtype) {
  const size_t tile = size_t(kKeysPerTile) * head_dim * 2;  // bf16
  return IsFp8(cache_dtype) ? size_t(2) * stages * (tile / 2) + 2 * tile
                            : size_t(2) * stages * tile;
}
size_t DecodeSmemBytes(int head_dim, int stages, PagedKvDType cache_dtype) {
  return size_t(16) * head_dim * 2 + KvSmemBytes(head_dim, stages, cache_dtype);
}
size_t PrefillSmemBytes(int head_dim, int stages, PagedKvDType cache_dtype) {
  return size_t(kWarps) * PrefillTilesPerWarp(head_dim) * 16 * head_dim * 2 +
         KvSmemBytes(head_dim, stages, cache_dtype);
}

// The deepest pipeline (3 or 2 stages) whose shared memory fits the device; 0 if none.
int PickStages(size_t (*bytes)(int, int, PagedKvDType), const PagedAttentionShape& shape,
               int smem_limit) {
  for (int stages = 3; stages >= 2; --stages)
    if (bytes(shape.head_dim, stages, shape.cache_dtype) <= size_t(smem_limit)) return stages;
  return 0;
}

using KernelFn = void (*)(const KernelParams);
using PrefillFn = void (*)(const KernelParams, int);

template <typename KvT>
KernelFn DecodeKernelFor(int head_dim, int stages) {
  if (head_dim == 64) return stages == 3 ? DecodeKernel<64, 3, KvT> : DecodeKernel<64, 2, KvT>;
  return stages == 3 ? DecodeKernel<128, 3, KvT> : DecodeKernel<128, 2, KvT>;
}
KernelFn DecodeKernelFor(const PagedAttentionShape& shape, int stages) {
  return IsFp8(shape.cache_dtype) ? DecodeKernelFor<fp8>(shape.head_dim, stages)
                                  : DecodeKernelFor<bf16>(shape.head_dim, stages);
}
template <typename KvT>
PrefillFn PrefillKernelFor(int head_dim, int stages) {
  if (head_dim == 64)
    return stages == 3 ? PrefillKernel<64, 2, 3, KvT> : PrefillKernel<64, 2, 2, KvT>;
  return stages == 3 ? PrefillKernel<128, 1, 3, KvT> : PrefillKernel<128, 1, 2, KvT>;
}
PrefillFn PrefillKernelFor(const PagedAttentionShape& shape, int stages) {
  return IsFp8(shape.cache_dtype) ? PrefillKernelFor<fp8>(shape.head_dim, stages)
                                  : PrefillKernelFor<bf16>(shape.head_dim, stages);
}

Status CheckShape(const PagedAttentionShape& s) {
  if (s.head_dim != 64 && s.head_dim != 128)
    return InvalidArgument("paged attention: head_dim {} unsupported (64 or 128)", s.head_dim);
  if (s.num_q_heads <= 0 || s.num_kv_heads <= 0 || s.num_q_heads % s.num_kv_heads != 0)
    return InvalidArgument("paged attention: num_q_heads {} not a multiple of num_kv_heads {}",
                           s.num_q_heads, s.num_kv_heads);
  if (s.num_q_heads / s.num_kv_heads > kPrefillMaxGroup)
    return InvalidArgument("paged attention: {} query heads per KV head (at most {})",
                           s.num_q_heads / s.num_kv_heads, kPrefillMaxGroup);
  if (s.block_size <= 0) return InvalidArgument("paged attention: block_size {}", s.block_size);
  if (s.max_blocks_per_seq <= 0)
    return InvalidArgument("paged attention: max_blocks_per_seq {}", s.max_blocks_per_seq);
  if (s.num_seqs < 0 || s.num_tokens < 0)
    return InvalidArgument("paged attention: num_seqs {} num_tokens {}", s.num_seqs, s.num_tokens);
  if (s.num_seqs > 65535)
    return InvalidArgument("paged attention: num_seqs {} (at most 65535)", s.num_seqs);
  if (s.sliding_window < 0)
    return InvalidArgument("paged attention: sliding_window {}", s.sliding_window);
  if (s.cache_dtype != PagedKvDType::kBf16 && s.cache_dtype != PagedKvDType::kFp8E4M3)
    return InvalidArgument("paged attention: KV cache dtype {} unsupported (bf16 or fp8 e4m3)",
                           int(s.cache_dtype));
  return OkStatus();
}

}  // namespace

const char* PagedAttentionVariantName(PagedAttentionVariant variant) {
  switch (variant) {
    case PagedAttentionVariant::kDecodeSplitKv:
      return "decode_split_kv";
    case PagedAttentionVariant::kPrefillMma:
      return "prefill_mma";
    case PagedAttentionVariant::kMixed:
      return "mixed";
  }
  return "?";
}

bool PagedAttentionSupports(PagedAttentionVariant variant, int sm_arch,
                            const PagedAttentionShape& shape) {
  if (sm_arch < 80 || !CheckShape(shape).ok()) return false;
  const int group = shape.num_q_heads / shape.num_kv_heads;
  if (variant == PagedAttentionVariant::kPrefillMma) return true;
  return group <= kDecodeMaxGroup;
}

size_t PagedAttentionWorkspaceBytes(const PagedAttentionShape& shape, int num_splits) {
  if (num_splits <= 1) return 0;
  const size_t parts = size_t(shape.num_tokens) * shape.num_q_heads * num_splits;
  return parts * shape.head_dim * sizeof(float) + parts * sizeof(float2);
}

StatusOr<PagedAttentionPlan> PlanPagedAttentionWith(const DeviceInfo& device,
                                                    const PagedAttentionShape& shape,
                                                    PagedAttentionVariant variant, int num_splits) {
  ATOM_RETURN_IF_ERROR(CheckShape(shape));
  if (!PagedAttentionSupports(variant, device.sm_arch, shape))
    return InvalidArgument("paged attention: variant {} does not support sm_{}, group {}",
                           PagedAttentionVariantName(variant), device.sm_arch,
                           shape.num_q_heads / shape.num_kv_heads);
  if (num_splits < 1 || num_splits > kMaxSplits)
    return InvalidArgument("paged attention: num_splits {} (1..{})", num_splits, kMaxSplits);
  const int limit = device.max_shared_memory_per_block_optin;
  PagedAttentionPlan plan;
  plan.variant = variant;
  plan.num_splits = variant == PagedAttentionVariant::kPrefillMma ? 1 : num_splits;
  plan.shape = shape;
  if (plan.shape.max_query_len <= 0) plan.shape.max_query_len = shape.num_tokens;
  if (plan.shape.max_seq_len <= 0)
    plan.shape.max_seq_len = shape.max_blocks_per_seq * shape.block_size;
  plan.workspace_bytes = PagedAttentionWorkspaceBytes(shape, plan.num_splits);
  // Pipeline depth from the device's shared-memory limit; the kernels' dynamic shared-memory
  // limit is raised here, once, so launches make no attribute calls.
  if (variant != PagedAttentionVariant::kDecodeSplitKv) {
    plan.prefill_stages = PickStages(PrefillSmemBytes, shape, limit);
    if (plan.prefill_stages == 0)
      return InvalidArgument("paged attention: head_dim {} needs more shared memory than {}",
                             shape.head_dim, limit);
    ATOM_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        PrefillKernelFor(shape, plan.prefill_stages), cudaFuncAttributeMaxDynamicSharedMemorySize,
        int(PrefillSmemBytes(shape.head_dim, plan.prefill_stages, shape.cache_dtype))));
  }
  if (variant != PagedAttentionVariant::kPrefillMma) {
    plan.decode_stages = PickStages(DecodeSmemBytes, shape, limit);
    if (plan.decode_stages == 0)
      return InvalidArgument("paged attention: head_dim {} needs more shared memory than {}",
                             shape.head_dim, limit);
    ATOM_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        DecodeKernelFor(shape, plan.decode_stages), cudaFuncAttributeMaxDynamicSharedMemorySize,
        int(DecodeSmemBytes(shape.head_dim, plan.decode_stages, shape.cache_dtype))));
  }
  return plan;
}

StatusOr<PagedAttentionPlan> PlanPagedAttention(const DeviceInfo& device,
                                                const PagedAttentionShape& shape) {
  ATOM_RETURN_IF_ERROR(CheckShape(shape));
  const bool decode_ok =
      PagedAttentionSupports(PagedAttentionVariant::kDecodeSplitKv, device.sm_arch, shape);
  PagedAttentionVariant variant = PagedAttentionVariant::kPrefillMma;
  if (decode_ok && shape.max_query_len == 1)
    variant = PagedAttentionVariant::kDecodeSplitKv;
  else if (decode_ok && shape.num_seqs > 1)
    variant = PagedAttentionVariant::kMixed;
  int num_splits = 1;
  if (variant != PagedAttentionVariant::kPrefillMma) {
    // One wave of decode CTAs over the SMs, each split keeping kMinKeysPerSplit keys or more.
    const int stages = PickStages(DecodeSmemBytes, shape, device.max_shared_memory_per_block_optin);
    if (stages == 0)
      return InvalidArgument("paged attention: head_dim {} needs more shared memory than {}",
                             shape.head_dim, device.max_shared_memory_per_block_optin);
    const KernelFn kernel = DecodeKernelFor(shape, stages);
    const size_t smem = DecodeSmemBytes(shape.head_dim, stages, shape.cache_dtype);
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    int ctas_per_sm = 0;
    ATOM_CUDA_RETURN_IF_ERROR(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&ctas_per_sm, kernel, kThreads, smem));
    const int max_seq =
        shape.max_seq_len > 0 ? shape.max_seq_len : shape.max_blocks_per_seq * shape.block_size;
    const int max_keys =
        shape.sliding_window > 0 ? std::min(max_seq, shape.sliding_window) : max_seq;
    const int base = std::max(1, shape.num_seqs * shape.num_kv_heads);
    const int slots = std::max(1, ctas_per_sm) * device.sm_count;
    num_splits =
        std::clamp((slots + base - 1) / base, 1,
                   std::clamp((max_keys + kMinKeysPerSplit - 1) / kMinKeysPerSplit, 1, kMaxSplits));
  }
  return PlanPagedAttentionWith(device, shape, variant, num_splits);
}

Status PagedAttention(const PagedAttentionArgs& args, const PagedAttentionPlan& plan,
                      void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const PagedAttentionShape& s = plan.shape;
  ATOM_RETURN_IF_ERROR(CheckShape(s));
  if (s.num_seqs == 0 || s.num_tokens == 0) return OkStatus();
  auto misaligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 != 0; };
  if (!args.q || misaligned(args.q))
    return InvalidArgument("paged attention: q null or misaligned");
  if (!args.key_cache || misaligned(args.key_cache))
    return InvalidArgument("paged attention: key_cache null or misaligned");
  if (!args.value_cache || misaligned(args.value_cache))
    return InvalidArgument("paged attention: value_cache null or misaligned");
  if (!args.out || misaligned(args.out))
    return InvalidArgument("paged attention: out null or misaligned");
  if (!args.query_start || !args.positions || !args.block_tables)
    return InvalidArgument("paged attention: metadata arrays must be device pointers, not null");
  if (IsFp8(s.cache_dtype) && (!args.k_scale || !args.v_scale))
    return InvalidArgument("paged attention: an fp8 KV cache needs k_scale and v_scale");
  if (plan.workspace_bytes > 0 &&
      (!workspace || workspace_bytes < plan.workspace_bytes || misaligned(workspace)))
    return InvalidArgument("paged attention: workspace of {} bytes, the plan needs {}",
                           workspace ? workspace_bytes : 0, plan.workspace_bytes);

  KernelParams kp{};
  kp.q = args.q;
  kp.k_cache = args.key_cache;
  kp.v_cache = args.value_cache;
  kp.sinks = args.sinks;
  kp.out = args.out;
  kp.scale_log2 = args.scale * kLog2e;
  kp.k_scale = args.k_scale;
  kp.v_scale = args.v_scale;
  kp.query_start = args.query_start;
  kp.positions = args.positions;
  kp.block_tables = args.block_tables;
  kp.num_q_heads = s.num_q_heads;
  kp.num_kv_heads = s.num_kv_heads;
  kp.group = s.num_q_heads / s.num_kv_heads;
  kp.block_size = s.block_size;
  kp.max_blocks_per_seq = s.max_blocks_per_seq;
  kp.sliding_window = s.sliding_window;
  kp.num_splits = plan.num_splits;
  if (plan.num_splits > 1) {
    const size_t parts = size_t(s.num_tokens) * s.num_q_heads * plan.num_splits;
    kp.ws_out = static_cast<float*>(workspace);
    kp.ws_ml = reinterpret_cast<float2*>(kp.ws_out + parts * s.head_dim);
  }

  const bool run_prefill = plan.variant != PagedAttentionVariant::kDecodeSplitKv;
  const bool run_decode = plan.variant != PagedAttentionVariant::kPrefillMma;
  if ((run_prefill && plan.prefill_stages == 0) || (run_decode && plan.decode_stages == 0))
    return InvalidArgument("paged attention: plan not made by PlanPagedAttention");
  if (run_prefill) {
    const PrefillFn kernel = PrefillKernelFor(s, plan.prefill_stages);
    const size_t smem = PrefillSmemBytes(s.head_dim, plan.prefill_stages, s.cache_dtype);
    const int rows = kWarps * PrefillTilesPerWarp(s.head_dim) * 16;
    const int tokens_per_cta = rows / kp.group;
    const int max_q = std::max(1, std::min(s.max_query_len, s.num_tokens));
    const dim3 grid((max_q + tokens_per_cta - 1) / tokens_per_cta, s.num_seqs, s.num_kv_heads);
    kernel<<<grid, kThreads, smem, stream>>>(kp, run_decode ? 1 : 0);
    ATOM_RETURN_IF_ERROR(LastLaunchStatus("PagedAttention prefill kernel"));
  }
  if (run_decode) {
    const KernelFn kernel = DecodeKernelFor(s, plan.decode_stages);
    const size_t smem = DecodeSmemBytes(s.head_dim, plan.decode_stages, s.cache_dtype);
    const dim3 grid(plan.num_splits, s.num_kv_heads, s.num_seqs);
    kernel<<<grid, kThreads, smem, stream>>>(kp);
    ATOM_RETURN_IF_ERROR(LastLaunchStatus("PagedAttention decode kernel"));
    if (plan.num_splits > 1) {
      const dim3 combine_grid(s.num_q_heads, s.num_seqs);
      if (s.head_dim == 64)
        SplitCombineKernel<64><<<combine_grid, 64, 0, stream>>>(kp);
      else
        SplitCombineKernel<128><<<combine_grid, 128, 0, stream>>>(kp);
      ATOM_RETURN_IF_ERROR(LastLaunchStatus("PagedAttention split combine kernel"));
    }
  }
  return OkStatus();
}

}  // namespace atom::cuda
