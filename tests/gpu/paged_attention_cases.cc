#include "paged_attention_cases.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include "backends/cpu/cpu_kernels.h"
#include "gpu_test_util.h"

namespace atom::cuda::attention_test {

using atom::testing::Download;
using atom::testing::Poisoned;
using atom::testing::RelativeError;
using atom::testing::TestRng;
using atom::testing::Upload;

namespace {

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

bool IsFp8(const Case& c) { return c.cache_dtype == PagedKvDType::kFp8E4M3; }

// Stores `x` as cache element `e` and returns the value the GPU will read: bf16(x), or
// e4m3(x / scale) · scale.
float Store(const Case& c, std::vector<uint8_t>& cache, int64_t e, float x, float scale) {
  if (IsFp8(c)) {
    cache[e] = FloatToFp8E4M3(x / scale);
    return Fp8E4M3ToFloat(cache[e]) * scale;
  }
  const uint16_t bits = FloatToBf16(x);
  std::memcpy(&cache[2 * e], &bits, 2);
  return Bf16ToFloat(bits);
}

}  // namespace

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
  // All bits set: NaN as bf16 (0xFFFF) and as e4m3 (0xFF).
  const size_t cache_bytes = cache_elems * (IsFp8(c) ? 1 : 2);
  p.k_stored.assign(cache_bytes, 0xFF);
  p.v_stored.assign(cache_bytes, 0xFF);
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
        p.k[e] = Store(c, p.k_stored, e, rng.Uniform(-1.0f, 1.0f), c.k_scale);
        p.v[e] = Store(c, p.v_stored, e, rng.Uniform(-1.0f, 1.0f), c.v_scale);
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

// Threaded over chunks of up to 4 query tokens of one sequence (each chunk is a batch of its own:
// the reference treats tokens independently).
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
  s.cache_dtype = p.c.cache_dtype;
  return s;
}

DeviceProblem::DeviceProblem(const Problem& p)
    : q(Upload(p.q_bits)),
      k(Upload(p.k_stored)),
      v(Upload(p.v_stored)),
      scales(Upload(std::vector<float>{p.c.k_scale, p.c.v_scale})),
      sinks(p.sinks.empty() ? DeviceBuffer() : Upload(p.sinks)),
      query_start(Upload(p.query_start)),
      seq_lens(Upload(p.seq_lens)),
      positions(Upload(p.positions)),
      block_tables(Upload(p.block_tables)) {}

PagedAttentionArgs DeviceProblem::Args(const Problem& p, void* out) const {
  PagedAttentionArgs a;
  a.q = static_cast<const __nv_bfloat16*>(q.data());
  a.key_cache = k.data();
  a.value_cache = v.data();
  if (IsFp8(p.c)) {
    a.k_scale = static_cast<const float*>(scales.data());
    a.v_scale = a.k_scale + 1;
  }
  a.sinks = p.c.sinks ? static_cast<const float*>(sinks.data()) : nullptr;
  a.out = static_cast<__nv_bfloat16*>(out);
  a.scale = 1.0f / std::sqrt(float(p.c.head_dim));
  a.query_start = static_cast<const int32_t*>(query_start.data());
  a.seq_lens = static_cast<const int32_t*>(seq_lens.data());
  a.positions = static_cast<const int32_t*>(positions.data());
  a.block_tables = static_cast<const int32_t*>(block_tables.data());
  return a;
}

std::string Describe(const Case& c, const PagedAttentionPlan& plan) {
  std::string seqs;
  for (size_t i = 0; i < c.seqs.size() && i < 6; ++i)
    seqs += fmt::format("{}{}@{}", i ? "," : "", c.seqs[i].num_query, c.seqs[i].context);
  if (c.seqs.size() > 6) seqs += fmt::format(",... ({} seqs)", c.seqs.size());
  const std::string cache = IsFp8(c)
                                ? fmt::format("fp8 (k_scale {}, v_scale {})", c.k_scale, c.v_scale)
                                : std::string("bf16");
  return fmt::format("{} cache d={} Hq={} Hkv={} bs={} window={} sinks={} seqs=[{}] → {} splits={}",
                     cache, c.head_dim, c.num_q_heads, c.num_kv_heads, c.block_size, c.window,
                     c.sinks, seqs, PagedAttentionVariantName(plan.variant), plan.num_splits);
}

double RunCase(const Case& c, PagedAttentionPlan* plan_used) {
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
  const std::vector<float> gpu = atom::testing::Bf16ToFloats(Download<uint16_t>(out, out_elems));
  const std::vector<float> ref = Reference(p);
  const double error = RelativeError(gpu, ref);
  std::printf("  %s: rel error %.2e\n", Describe(c, *plan).c_str(), error);
  if (plan_used) *plan_used = *plan;
  return error;
}

void CheckDecodeGraphReplay(Case c, const std::vector<Seq>& next, float next_k_scale,
                            float next_v_scale) {
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
  double error = RelativeError(atom::testing::Bf16ToFloats(Download<uint16_t>(out, out_elems)),
                               Reference(first));
  std::printf("  graph replay 1 (%s): rel error %.2e\n", Describe(c, *plan).c_str(), error);
  EXPECT_LE(error, kAttentionTolerance);

  // Next step: same batch size, other contexts; queries, caches, tables and scales rewritten in
  // place (same buffer sizes), the graph replayed unchanged.
  c.seqs = next;
  c.k_scale = next_k_scale;
  c.v_scale = next_v_scale;
  const Problem second = Build(c);
  ASSERT_EQ(second.k_stored.size(), first.k_stored.size());
  ASSERT_EQ(second.block_tables.size(), first.block_tables.size());
  auto copy = [](const DeviceBuffer& dst, const auto& host) {
    return cudaMemcpy(dst.data(), host.data(), host.size() * sizeof(host[0]),
                      cudaMemcpyHostToDevice);
  };
  ATOM_ASSERT_CUDA(copy(d.q, second.q_bits));
  ATOM_ASSERT_CUDA(copy(d.k, second.k_stored));
  ATOM_ASSERT_CUDA(copy(d.v, second.v_stored));
  ATOM_ASSERT_CUDA(copy(d.scales, std::vector<float>{c.k_scale, c.v_scale}));
  ATOM_ASSERT_CUDA(copy(d.positions, second.positions));
  ATOM_ASSERT_CUDA(copy(d.seq_lens, second.seq_lens));
  ATOM_ASSERT_CUDA(copy(d.block_tables, second.block_tables));
  if (c.sinks) ATOM_ASSERT_CUDA(copy(d.sinks, second.sinks));
  ATOM_ASSERT_CUDA(cudaMemset(out.data(), 0xFF, out.size()));
  ATOM_ASSERT_CUDA(cudaGraphLaunch(exec, stream));
  ATOM_ASSERT_CUDA(cudaStreamSynchronize(stream));
  error = RelativeError(atom::testing::Bf16ToFloats(Download<uint16_t>(out, out_elems)),
                        Reference(second));
  std::printf("  graph replay 2 (%s): rel error %.2e\n", Describe(c, *plan).c_str(), error);
  EXPECT_LE(error, kAttentionTolerance);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
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

}  // namespace atom::cuda::attention_test
