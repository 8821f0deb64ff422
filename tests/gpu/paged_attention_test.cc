// CUDA paged attention against atom::cpu::ref::PagedAttention (f32) on fresh random bf16 inputs:
// shuffled non-contiguous physical blocks, NaN-poisoned unused cache slots and block-table
// entries (a read outside the visible keys shows up as NaN), poisoned outputs, every variant.
#include "backends/cuda/paged_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cuda/device_info.h"
#include "gpu_test_util.h"

namespace atom::cuda {
namespace {

using testing::Download;
using testing::Poisoned;
using testing::RelativeError;
using testing::TestRng;
using testing::Upload;

constexpr double kTolerance = 1e-2;  // bf16 inputs, probabilities and output
constexpr uint16_t kBf16Nan = 0xFFFF;

// A sequence of the batch: its last `num_query` positions of `context` are this step's queries.
struct Seq {
  int num_query;
  int context;
};

struct Case {
  int head_dim = 64;
  int num_q_heads = 64;
  int num_kv_heads = 8;
  int block_size = 16;
  int window = 0;
  bool sinks = true;
  std::vector<Seq> seqs;
  bool force = false;  // use `variant` and `num_splits` instead of PlanPagedAttention
  PagedAttentionVariant variant = PagedAttentionVariant::kPrefillMma;
  int num_splits = 1;
  // Fixed buffer sizes (0: just enough), so two steps can share device buffers.
  int pool_blocks = 0;
  int table_width = 0;
};

// Fast uniform floats for the large caches (seeded from the test's printed seed).
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  float Uniform(float lo, float hi) {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * float(z >> 40) * (1.0f / float(1 << 24));
  }

 private:
  uint64_t state_;
};

// Host side of one step: bf16 bits for the GPU and the identical values as f32 for the CPU.
struct Problem {
  Case c;
  int num_tokens = 0, max_blocks_per_seq = 0, num_blocks = 0, max_query = 0, max_context = 0;
  std::vector<int32_t> query_start, seq_lens, positions, block_tables;
  std::vector<uint16_t> q_bits, k_bits, v_bits, sink_bits;
  std::vector<float> q, k, v, sinks;
};

Problem Build(const Case& c) {
  Problem p;
  p.c = c;
  SplitMix rng((uint64_t(TestRng()()) << 32) | TestRng()());
  const int num_seqs = int(c.seqs.size());
  const int64_t row = int64_t(c.num_kv_heads) * c.head_dim;  // elements per cache slot
  p.query_start.push_back(0);
  int used_blocks = 0;
  for (const Seq& s : c.seqs) {
    p.query_start.push_back(p.query_start.back() + s.num_query);
    p.seq_lens.push_back(s.context);
    for (int i = 0; i < s.num_query; ++i) p.positions.push_back(s.context - s.num_query + i);
    const int blocks = (s.context + c.block_size - 1) / c.block_size;
    used_blocks += blocks;
    p.max_blocks_per_seq = std::max(p.max_blocks_per_seq, blocks + 1);  // + one unused entry
    p.max_query = std::max(p.max_query, s.num_query);
    p.max_context = std::max(p.max_context, s.context);
  }
  p.num_tokens = p.query_start.back();
  // Physical blocks: a shuffled pool with spare (poisoned) blocks among the used ones.
  p.num_blocks = std::max(c.pool_blocks, used_blocks + used_blocks / 4 + 3);
  p.max_blocks_per_seq = std::max(p.max_blocks_per_seq, c.table_width);
  std::vector<int32_t> pool(p.num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), TestRng());
  const int32_t spare = pool.back();  // never written: unused table entries point at it
  p.block_tables.assign(size_t(num_seqs) * p.max_blocks_per_seq, spare);
  const size_t cache_elems = size_t(p.num_blocks) * c.block_size * row;
  p.k_bits.assign(cache_elems, kBf16Nan);
  p.v_bits.assign(cache_elems, kBf16Nan);
  p.k.assign(cache_elems, NAN);
  p.v.assign(cache_elems, NAN);
  int next = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const int context = c.seqs[s].context;
    for (int b = 0; b * c.block_size < context; ++b)
      p.block_tables[size_t(s) * p.max_blocks_per_seq + b] = pool[next++];
    for (int j = 0; j < context; ++j) {
      const int64_t slot =
          int64_t(p.block_tables[size_t(s) * p.max_blocks_per_seq + j / c.block_size]) *
              c.block_size +
          j % c.block_size;
      for (int64_t e = slot * row; e < (slot + 1) * row; ++e) {
        p.k_bits[e] = FloatToBf16(rng.Uniform(-1.0f, 1.0f));
        p.v_bits[e] = FloatToBf16(rng.Uniform(-1.0f, 1.0f));
        p.k[e] = Bf16ToFloat(p.k_bits[e]);
        p.v[e] = Bf16ToFloat(p.v_bits[e]);
      }
    }
  }
  // Queries of larger magnitude than keys, so the softmax is peaked rather than flat.
  const size_t q_elems = size_t(p.num_tokens) * c.num_q_heads * c.head_dim;
  p.q_bits.resize(q_elems);
  p.q.resize(q_elems);
  for (size_t i = 0; i < q_elems; ++i) {
    p.q_bits[i] = FloatToBf16(rng.Uniform(-4.0f, 4.0f));
    p.q[i] = Bf16ToFloat(p.q_bits[i]);
  }
  if (c.sinks) {
    for (int h = 0; h < c.num_q_heads; ++h) {
      p.sink_bits.push_back(FloatToBf16(rng.Uniform(-1.0f, 3.0f)));
      p.sinks.push_back(Bf16ToFloat(p.sink_bits.back()));
    }
  }
  return p;
}

// The CPU reference, threaded over chunks of up to 4 query tokens of one sequence (each chunk is
// a batch of its own: the reference treats tokens independently).
std::vector<float> Reference(const Problem& p) {
  const Case& c = p.c;
  std::vector<float> out(size_t(p.num_tokens) * c.num_q_heads * c.head_dim, NAN);
  const Tensor q(const_cast<float*>(p.q.data()), DType::kF32,
                 {p.num_tokens, c.num_q_heads, c.head_dim});
  const Tensor o(out.data(), DType::kF32, {p.num_tokens, c.num_q_heads, c.head_dim});
  const Shape cache_shape{p.num_blocks, c.block_size, c.num_kv_heads, c.head_dim};
  const Tensor k(const_cast<float*>(p.k.data()), DType::kF32, cache_shape);
  const Tensor v(const_cast<float*>(p.v.data()), DType::kF32, cache_shape);
  const Tensor sinks =
      c.sinks ? Tensor(const_cast<uint16_t*>(p.sink_bits.data()), DType::kBF16, {c.num_q_heads})
              : Tensor();
  ops::AttentionParams params;
  params.scale = 1.0f / std::sqrt(float(c.head_dim));
  params.sliding_window = c.window;

  struct Chunk {
    int seq, begin, end;
  };
  std::vector<Chunk> chunks;
  for (int s = 0; s < int(c.seqs.size()); ++s)
    for (int t = p.query_start[s]; t < p.query_start[s + 1]; t += 4)
      chunks.push_back({s, t, std::min(t + 4, p.query_start[s + 1])});
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < chunks.size();) {
      const Chunk& ch = chunks[i];
      const int32_t query_start[2] = {0, ch.end - ch.begin};
      ops::AttentionMetadata md;
      md.num_seqs = 1;
      md.num_tokens = ch.end - ch.begin;
      md.query_start = query_start;
      md.seq_lens = &p.seq_lens[ch.seq];
      md.positions = &p.positions[ch.begin];
      md.block_tables = &p.block_tables[size_t(ch.seq) * p.max_blocks_per_seq];
      md.max_blocks_per_seq = p.max_blocks_per_seq;
      md.block_size = c.block_size;
      cpu::ref::PagedAttention(q.Rows(ch.begin, ch.end), k, v, md, sinks, params,
                               o.Rows(ch.begin, ch.end));
    }
  };
  std::vector<std::thread> threads(std::max(1u, std::thread::hardware_concurrency()));
  for (auto& t : threads) t = std::thread(work);
  for (auto& t : threads) t.join();
  return out;
}

const DeviceInfo& Gpu() {
  static const DeviceInfo device = [] {
    auto devices = QueryDevices();
    if (!devices.ok() || devices->empty()) return DeviceInfo{};
    return devices->front();
  }();
  return device;
}

PagedAttentionShape ShapeOf(const Problem& p) {
  PagedAttentionShape s;
  s.num_seqs = int(p.c.seqs.size());
  s.num_tokens = p.num_tokens;
  s.num_q_heads = p.c.num_q_heads;
  s.num_kv_heads = p.c.num_kv_heads;
  s.head_dim = p.c.head_dim;
  s.block_size = p.c.block_size;
  s.max_blocks_per_seq = p.max_blocks_per_seq;
  s.sliding_window = p.c.window;
  s.max_query_len = p.max_query;
  s.max_seq_len = p.max_context;
  return s;
}

// The step's inputs on the device.
struct DeviceProblem {
  DeviceBuffer q, k, v, sinks, query_start, seq_lens, positions, block_tables;
  explicit DeviceProblem(const Problem& p)
      : q(Upload(p.q_bits)),
        k(Upload(p.k_bits)),
        v(Upload(p.v_bits)),
        sinks(p.sinks.empty() ? DeviceBuffer() : Upload(p.sinks)),
        query_start(Upload(p.query_start)),
        seq_lens(Upload(p.seq_lens)),
        positions(Upload(p.positions)),
        block_tables(Upload(p.block_tables)) {}
  PagedAttentionArgs Args(const Problem& p, void* out) const {
    PagedAttentionArgs a;
    a.q = static_cast<const __nv_bfloat16*>(q.data());
    a.key_cache = static_cast<const __nv_bfloat16*>(k.data());
    a.value_cache = static_cast<const __nv_bfloat16*>(v.data());
    a.sinks = p.c.sinks ? static_cast<const float*>(sinks.data()) : nullptr;
    a.out = static_cast<__nv_bfloat16*>(out);
    a.scale = 1.0f / std::sqrt(float(p.c.head_dim));
    a.query_start = static_cast<const int32_t*>(query_start.data());
    a.seq_lens = static_cast<const int32_t*>(seq_lens.data());
    a.positions = static_cast<const int32_t*>(positions.data());
    a.block_tables = static_cast<const int32_t*>(block_tables.data());
    return a;
  }
};

std::string Describe(const Case& c, const PagedAttentionPlan& plan) {
  std::string seqs;
  for (size_t i = 0; i < c.seqs.size() && i < 6; ++i)
    seqs += fmt::format("{}{}@{}", i ? "," : "", c.seqs[i].num_query, c.seqs[i].context);
  if (c.seqs.size() > 6) seqs += fmt::format(",... ({} seqs)", c.seqs.size());
  return fmt::format("d={} Hq={} Hkv={} bs={} window={} sinks={} seqs=[{}] → {} splits={}",
                     c.head_dim, c.num_q_heads, c.num_kv_heads, c.block_size, c.window, c.sinks,
                     seqs, PagedAttentionVariantName(plan.variant), plan.num_splits);
}

// Runs `c` on the GPU and the CPU; returns the relative error (infinite if any output element
// was left unwritten) and the plan used.
double RunCase(const Case& c, PagedAttentionPlan* plan_used = nullptr) {
  const Problem p = Build(c);
  const DeviceProblem d(p);
  auto plan = c.force ? PlanPagedAttentionWith(Gpu(), ShapeOf(p), c.variant, c.num_splits)
                      : PlanPagedAttention(Gpu(), ShapeOf(p));
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  if (!plan.ok()) return INFINITY;
  const size_t out_elems = size_t(p.num_tokens) * c.num_q_heads * c.head_dim;
  DeviceBuffer out = Poisoned<uint16_t>(out_elems);
  DeviceBuffer workspace;
  if (plan->workspace_bytes > 0) {
    auto ws = DeviceBuffer::Allocate(plan->workspace_bytes);
    EXPECT_TRUE(ws.ok());
    if (!ws.ok()) return INFINITY;
    workspace = std::move(ws).value();
    // Stale NaN partials must never be read.
    EXPECT_EQ(cudaMemset(workspace.data(), 0xFF, workspace.size()), cudaSuccess);
  }
  const Status status =
      PagedAttention(d.Args(p, out.data()), *plan, workspace.data(), workspace.size(), nullptr);
  EXPECT_TRUE(status.ok()) << status.ToString();
  const std::vector<float> gpu = testing::Bf16ToFloats(Download<uint16_t>(out, out_elems));
  const std::vector<float> ref = Reference(p);
  const double error = RelativeError(gpu, ref);
  std::printf("  %s: rel error %.2e\n", Describe(c, *plan).c_str(), error);
  if (plan_used) *plan_used = *plan;
  return error;
}

std::vector<Seq> Decodes(std::initializer_list<int> contexts) {
  std::vector<Seq> seqs;
  for (int ctx : contexts) seqs.push_back({1, ctx});
  return seqs;
}

std::vector<Seq> RandomDecodes(int n, int max_context) {
  std::uniform_int_distribution<int> dist(1, max_context);
  std::vector<Seq> seqs;
  for (int i = 0; i < n; ++i) seqs.push_back({1, dist(TestRng())});
  return seqs;
}

TEST(CudaPagedAttention, DecodeBatch1LongContextSplitsKv) {
  for (int head_dim : {64, 128}) {
    Case c;
    c.head_dim = head_dim;
    c.seqs = Decodes({16384});
    PagedAttentionPlan plan;
    EXPECT_LE(RunCase(c, &plan), kTolerance);
    EXPECT_EQ(plan.variant, PagedAttentionVariant::kDecodeSplitKv);
    EXPECT_GT(plan.num_splits, 1);
  }
}

TEST(CudaPagedAttention, DecodeBatch1ShortContext) {
  for (bool sinks : {true, false}) {
    Case c;
    c.sinks = sinks;
    c.seqs = Decodes({64});
    EXPECT_LE(RunCase(c), kTolerance);
    c.seqs = Decodes({1});  // the first token: its own key only (and the sink)
    EXPECT_LE(RunCase(c), kTolerance);
  }
}

TEST(CudaPagedAttention, DecodeBatch64MixedContexts) {
  for (int head_dim : {64, 128})
    for (int window : {0, 128})
      for (bool sinks : {true, false}) {
        if (head_dim == 128 && sinks != (window == 0)) continue;  // two of four at d = 128
        Case c;
        c.head_dim = head_dim;
        c.window = window;
        c.sinks = sinks;
        c.seqs = RandomDecodes(64, 4000);
        c.seqs[0].context = 1;
        c.seqs[1].context = 128;
        c.seqs[2].context = 129;
        EXPECT_LE(RunCase(c), kTolerance);
      }
}

TEST(CudaPagedAttention, SlidingWindowLongContextDecode) {
  Case c;
  c.window = 128;
  c.seqs = Decodes({16384, 16000, 130, 7});
  EXPECT_LE(RunCase(c), kTolerance);
}

TEST(CudaPagedAttention, Prefill) {
  for (int tokens : {1, 17, 500})
    for (int head_dim : {64, 128})
      for (int window : {0, 128}) {
        if (tokens < 500 && window) continue;
        Case c;
        c.head_dim = head_dim;
        c.window = window;
        c.sinks = head_dim == 64;
        c.seqs = {{tokens, tokens}};
        PagedAttentionPlan plan;
        EXPECT_LE(RunCase(c, &plan), kTolerance);
        if (tokens > 1) {
          EXPECT_EQ(plan.variant, PagedAttentionVariant::kPrefillMma);
        }
      }
}

TEST(CudaPagedAttention, MixedBatchChunkedPrefillAndDecodes) {
  for (int head_dim : {64, 128})
    for (int window : {0, 128}) {
      Case c;
      c.head_dim = head_dim;
      c.window = window;
      // A chunk continuing at position 2000, a fresh prompt, a 2-token step, and decodes.
      c.seqs = {{300, 2300}, {1, 5000}, {17, 17}, {1, 100}, {2, 700}, {1, 1}, {1, 129}};
      PagedAttentionPlan plan;
      EXPECT_LE(RunCase(c, &plan), kTolerance);
      EXPECT_EQ(plan.variant, PagedAttentionVariant::kMixed);
    }
}

TEST(CudaPagedAttention, BlockSizes) {
  for (int block_size : {32, 24, 1})
    for (int window : {0, 128}) {
      Case c;
      c.block_size = block_size;
      c.window = window;
      c.seqs = Decodes({3000, 47, 1000});
      EXPECT_LE(RunCase(c), kTolerance);
      c.seqs = {{200, 1200}, {1, 900}, {33, 33}};
      EXPECT_LE(RunCase(c), kTolerance);
    }
}

TEST(CudaPagedAttention, ForcedVariantsAgree) {
  const std::vector<Seq> decodes = Decodes({5000, 1, 300, 64, 65, 2049});
  for (int head_dim : {64, 128}) {
    Case c;
    c.head_dim = head_dim;
    c.seqs = decodes;
    c.force = true;
    c.variant = PagedAttentionVariant::kPrefillMma;  // decodes through the prefill kernel
    EXPECT_LE(RunCase(c), kTolerance);
    c.variant = PagedAttentionVariant::kDecodeSplitKv;
    for (int splits : {1, 3, 37, 256}) {
      c.num_splits = splits;
      EXPECT_LE(RunCase(c), kTolerance);
    }
    c.variant = PagedAttentionVariant::kMixed;  // a mixed launch with decodes only
    c.num_splits = 5;
    c.window = 128;
    EXPECT_LE(RunCase(c), kTolerance);
  }
}

TEST(CudaPagedAttention, GroupSizes) {
  // (Hq, Hkv): no GQA, the largest decode group, an odd group, groups the decode kernel leaves
  // to the prefill kernel.
  for (auto [hq, hkv] : {std::pair{8, 8}, {32, 2}, {24, 8}, {64, 2}, {64, 1}}) {
    Case c;
    c.num_q_heads = hq;
    c.num_kv_heads = hkv;
    c.seqs = {{1, 3000}, {40, 140}, {1, 17}};
    EXPECT_LE(RunCase(c), kTolerance) << hq << "/" << hkv;
    c.seqs = Decodes({2000, 5});
    EXPECT_LE(RunCase(c), kTolerance) << hq << "/" << hkv;
  }
}

TEST(CudaPagedAttention, RejectsUnsupportedShapes) {
  PagedAttentionShape s;
  s.num_seqs = 1;
  s.num_tokens = 1;
  s.num_q_heads = 64;
  s.num_kv_heads = 8;
  s.head_dim = 64;
  s.block_size = 16;
  s.max_blocks_per_seq = 4;
  s.max_query_len = 1;
  s.max_seq_len = 64;
  ASSERT_TRUE(PlanPagedAttention(Gpu(), s).ok());
  auto bad = s;
  bad.head_dim = 96;
  EXPECT_EQ(PlanPagedAttention(Gpu(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.num_kv_heads = 7;
  EXPECT_EQ(PlanPagedAttention(Gpu(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.block_size = 0;
  EXPECT_EQ(PlanPagedAttention(Gpu(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.num_q_heads = 64;
  bad.num_kv_heads = 2;  // group 32: too large for the decode kernel
  EXPECT_FALSE(PagedAttentionSupports(PagedAttentionVariant::kDecodeSplitKv, 90, bad));
  EXPECT_EQ(
      PlanPagedAttentionWith(Gpu(), bad, PagedAttentionVariant::kDecodeSplitKv, 2).status().code(),
      StatusCode::kInvalidArgument);
  auto plan = PlanPagedAttention(Gpu(), bad);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->variant, PagedAttentionVariant::kPrefillMma);
  EXPECT_FALSE(PagedAttentionSupports(PagedAttentionVariant::kPrefillMma, 75, s));
  // A launch without the workspace its plan needs.
  auto split = PlanPagedAttentionWith(Gpu(), s, PagedAttentionVariant::kDecodeSplitKv, 4);
  ASSERT_TRUE(split.ok());
  PagedAttentionArgs args;
  alignas(16) static uint16_t dummy[64];
  args.q = args.key_cache = args.value_cache = reinterpret_cast<const __nv_bfloat16*>(dummy);
  args.out = reinterpret_cast<__nv_bfloat16*>(dummy);
  args.query_start = args.positions = args.block_tables = reinterpret_cast<int32_t*>(dummy);
  EXPECT_EQ(PagedAttention(args, *split, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
}

// A decode step captured once as a CUDA graph, replayed over new metadata written into the same
// device buffers (longer contexts, other blocks), as the engine replays its decode graphs.
TEST(CudaPagedAttention, DecodeGraphReplaysWithNewMetadata) {
  Case c;
  c.pool_blocks = 1400;  // enough for both steps
  c.table_width = 8192 / 16 + 1;
  c.seqs = Decodes({1000, 50, 3000, 1, 700, 2000, 129, 4000});
  const Problem first = Build(c);
  const DeviceProblem d(first);
  PagedAttentionShape shape = ShapeOf(first);
  shape.max_seq_len = 8192;  // the bucket's hint, not this step's
  auto plan = PlanPagedAttention(Gpu(), shape);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->variant, PagedAttentionVariant::kDecodeSplitKv);
  auto workspace = DeviceBuffer::Allocate(std::max<size_t>(plan->workspace_bytes, 16));
  ASSERT_TRUE(workspace.ok());
  const size_t out_elems = size_t(first.num_tokens) * c.num_q_heads * c.head_dim;
  DeviceBuffer out = Poisoned<uint16_t>(out_elems);

  cudaStream_t stream;
  ATOM_ASSERT_CUDA(cudaStreamCreate(&stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  ATOM_ASSERT_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  ATOM_ASSERT_OK(PagedAttention(d.Args(first, out.data()), *plan, workspace->data(),
                                workspace->size(), stream));
  ATOM_ASSERT_CUDA(cudaStreamEndCapture(stream, &graph));
  ATOM_ASSERT_CUDA(cudaGraphInstantiate(&exec, graph, 0));

  ATOM_ASSERT_CUDA(cudaGraphLaunch(exec, stream));
  ATOM_ASSERT_CUDA(cudaStreamSynchronize(stream));
  double error =
      RelativeError(testing::Bf16ToFloats(Download<uint16_t>(out, out_elems)), Reference(first));
  std::printf("  graph replay 1: rel error %.2e\n", error);
  EXPECT_LE(error, kTolerance);

  // Next step: same batch size, longer and new contexts; queries, caches and tables rewritten
  // in place (same buffer sizes), the graph replayed unchanged.
  c.seqs = Decodes({1001, 6000, 17, 2, 8000, 2001, 130, 64});
  const Problem second = Build(c);
  ASSERT_EQ(second.k_bits.size(), first.k_bits.size());
  ASSERT_EQ(second.block_tables.size(), first.block_tables.size());
  auto copy = [](const DeviceBuffer& dst, const auto& host) {
    return cudaMemcpy(dst.data(), host.data(), host.size() * sizeof(host[0]),
                      cudaMemcpyHostToDevice);
  };
  ATOM_ASSERT_CUDA(copy(d.q, second.q_bits));
  ATOM_ASSERT_CUDA(copy(d.k, second.k_bits));
  ATOM_ASSERT_CUDA(copy(d.v, second.v_bits));
  ATOM_ASSERT_CUDA(copy(d.positions, second.positions));
  ATOM_ASSERT_CUDA(copy(d.seq_lens, second.seq_lens));
  ATOM_ASSERT_CUDA(copy(d.block_tables, second.block_tables));
  ATOM_ASSERT_CUDA(copy(d.sinks, second.sinks));
  ATOM_ASSERT_CUDA(cudaMemset(out.data(), 0xFF, out.size()));
  ATOM_ASSERT_CUDA(cudaGraphLaunch(exec, stream));
  ATOM_ASSERT_CUDA(cudaStreamSynchronize(stream));
  error =
      RelativeError(testing::Bf16ToFloats(Download<uint16_t>(out, out_elems)), Reference(second));
  std::printf("  graph replay 2: rel error %.2e\n", error);
  EXPECT_LE(error, kTolerance);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace atom::cuda
