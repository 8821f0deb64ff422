// Shared by the paged-attention GPU tests (bf16 and fp8 caches): a batch description (Case), its
// random host data (Problem: the caches as the GPU reads them and the identical values as f32 for
// atom::cpu::ref::PagedAttention), and RunCase, which runs one case on the GPU and the CPU and
// returns the relative error.
//
// Every case uses shuffled non-contiguous physical blocks, NaN-poisoned unused cache slots and
// block-table entries (a read outside the visible keys shows up as NaN), and a poisoned output.
// An fp8 case stores e4m3(x / scale) and feeds the reference the dequantised e4m3 · scale, so the
// comparison isolates the kernel from the quantisation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/paged_attention.h"

namespace atom::cuda::attention_test {

constexpr double kAttentionTolerance = 1e-2;  // bf16 q, probabilities and output

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
  PagedKvDType cache_dtype = PagedKvDType::kBf16;
  float k_scale = 1.0f, v_scale = 1.0f;  // fp8 only: value = stored · scale
};

// Host side of one step.
struct Problem {
  Case c;
  int num_tokens = 0, max_blocks_per_seq = 0, num_blocks = 0, max_query = 0, max_context = 0;
  std::vector<int32_t> query_start, seq_lens, positions, block_tables;
  std::vector<uint16_t> q_bits, sink_bits;
  std::vector<uint8_t> k_stored, v_stored;  // the caches' bytes: bf16 bits or e4m3 codes
  std::vector<float> q, k, v, sinks;        // the values the GPU sees, as f32
};

// Random data for `c` (seeded from the printed test seed).
Problem Build(const Case& c);

// The CPU reference output, f32 [T, Hq, d].
std::vector<float> Reference(const Problem& p);

// The first visible GPU.
const DeviceInfo& Gpu();

PagedAttentionShape ShapeOf(const Problem& p);

// The step's inputs on the device.
struct DeviceProblem {
  DeviceBuffer q, k, v, scales, sinks, query_start, seq_lens, positions, block_tables;
  explicit DeviceProblem(const Problem& p);
  PagedAttentionArgs Args(const Problem& p, void* out) const;
};

std::string Describe(const Case& c, const PagedAttentionPlan& plan);

// Runs `c` on the GPU and the CPU; returns the relative error (infinite if any output element
// was left unwritten) and the plan used.
double RunCase(const Case& c, PagedAttentionPlan* plan_used = nullptr);

// A decode step of `c.seqs` captured once as a CUDA graph, replayed over new metadata, caches
// and (fp8) scales written into the same device buffers (`next` the second step's sequences), as
// the engine replays its decode graphs; both replays are checked against the reference.
void CheckDecodeGraphReplay(Case c, const std::vector<Seq>& next, float next_k_scale,
                            float next_v_scale);

std::vector<Seq> Decodes(std::initializer_list<int> contexts);
std::vector<Seq> RandomDecodes(int n, int max_context);

}  // namespace atom::cuda::attention_test
