#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "engine/kv_cache.h"
#include "engine/sampler.h"

namespace atom {

namespace {

struct Sequence {
  const GenerateRequest* request;
  std::vector<int32_t> tokens;  // prompt + generated
  int num_prompt = 0;
  int num_cached = 0;           // tokens whose keys and values are in the cache
  std::vector<int32_t> block_table;
  bool finished = false;
  GenerateResult result;
};

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// The batch of one step, in the layout ForwardBatch points into.
struct StepBatch {
  std::vector<Sequence*> seqs;
  std::vector<int32_t> token_ids, positions, query_start{0}, seq_lens, block_tables;
  std::vector<int64_t> slot_mapping;
  std::vector<int32_t> logits_indices;
  std::vector<int> first_logit_row;  // per sequence, its first row in logits_indices
  int max_blocks = 0;

  ForwardBatch View(int block_size) const {
    ForwardBatch b;
    b.token_ids = token_ids.data();
    b.attention.num_seqs = int(seqs.size());
    b.attention.num_tokens = int(token_ids.size());
    b.attention.query_start = query_start.data();
    b.attention.seq_lens = seq_lens.data();
    b.attention.positions = positions.data();
    b.attention.slot_mapping = slot_mapping.data();
    b.attention.block_tables = block_tables.data();
    b.attention.max_blocks_per_seq = max_blocks;
    b.attention.block_size = block_size;
    b.logits_indices = logits_indices.data();
    b.num_logits = int(logits_indices.size());
    return b;
  }
};

// Every unfinished sequence contributes all its uncached tokens: the whole prompt on the first
// step, then the one token sampled last.
StepBatch BuildStep(std::vector<Sequence>& seqs, int block_size, bool all_logits) {
  StepBatch s;
  for (Sequence& q : seqs)
    if (!q.finished) {
      s.seqs.push_back(&q);
      s.max_blocks = std::max(s.max_blocks, int(q.block_table.size()));
    }
  for (Sequence* q : s.seqs) {
    const int n = int(q->tokens.size());
    s.first_logit_row.push_back(int(s.logits_indices.size()));
    for (int pos = q->num_cached; pos < n; ++pos) {
      const int row = int(s.token_ids.size());
      s.token_ids.push_back(q->tokens[pos]);
      s.positions.push_back(pos);
      s.slot_mapping.push_back(int64_t(q->block_table[pos / block_size]) * block_size +
                               pos % block_size);
      if (all_logits || pos == n - 1) s.logits_indices.push_back(row);
    }
    s.query_start.push_back(int32_t(s.token_ids.size()));
    s.seq_lens.push_back(n);
    std::vector<int32_t> table = q->block_table;
    table.resize(s.max_blocks, 0);
    s.block_tables.insert(s.block_tables.end(), table.begin(), table.end());
  }
  return s;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

Generator::Generator(Model& model, GeneratorOptions options)
    : model_(model), options_(std::move(options)) {}

Status Generator::Validate(const std::vector<GenerateRequest>& requests) const {
  const ModelConfig& c = model_.config();
  if (options_.block_size <= 0)
    return InvalidArgument("block size must be positive, got {}", options_.block_size);
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateRequest& r = requests[i];
    if (r.prompt_ids.empty()) return InvalidArgument("prompt {}: empty", i);
    for (size_t j = 0; j < r.prompt_ids.size(); ++j)
      if (r.prompt_ids[j] < 0 || r.prompt_ids[j] >= c.vocab_size)
        return InvalidArgument("prompt {}: token {} (id {}) is outside the vocabulary [0, {})", i,
                               j, r.prompt_ids[j], c.vocab_size);
    if (r.max_tokens < 1) return InvalidArgument("prompt {}: max_tokens must be >= 1", i);
    if (int64_t(r.prompt_ids.size()) + r.max_tokens > c.max_position_embeddings)
      return InvalidArgument("prompt {}: {} prompt tokens + {} new tokens exceed the context "
                             "length {}",
                             i, r.prompt_ids.size(), r.max_tokens, c.max_position_embeddings);
  }
  return OkStatus();
}

StatusOr<std::vector<GenerateResult>> Generator::Generate(
    const std::vector<GenerateRequest>& requests, GenerateStats* stats) {
  ATOM_RETURN_IF_ERROR(Validate(requests));
  const int bs = options_.block_size;
  const int64_t vocab = model_.config().vocab_size;

  // Every sequence gets blocks for its longest possible length up front: no preemption needed.
  std::vector<Sequence> seqs(requests.size());
  int total_blocks = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    Sequence& q = seqs[i];
    q.request = &requests[i];
    q.tokens = requests[i].prompt_ids;
    q.num_prompt = int(q.tokens.size());
    total_blocks += CeilDiv(q.num_prompt + requests[i].max_tokens, bs);
  }
  if (seqs.empty()) return std::vector<GenerateResult>{};
  KvCache cache(model_.kv_cache_spec(), total_blocks, bs);
  for (Sequence& q : seqs) {
    auto blocks = cache.Allocate(CeilDiv(q.num_prompt + q.request->max_tokens, bs));
    ATOM_CHECK(blocks.has_value());
    q.block_table = std::move(*blocks);
  }

  GenerateStats local;
  for (int step = 0;; ++step) {
    StepBatch batch = BuildStep(seqs, bs, options_.record_logits);
    if (batch.seqs.empty()) break;
    const auto start = std::chrono::steady_clock::now();
    HostTensor logits(DType::kF32, {int64_t(batch.logits_indices.size()), vocab});
    ATOM_RETURN_IF_ERROR(model_.Forward(batch.View(bs), cache.view(), logits));

    for (size_t s = 0; s < batch.seqs.size(); ++s) {
      Sequence& q = *batch.seqs[s];
      const int first = batch.first_logit_row[s];
      const int rows = (s + 1 < batch.seqs.size() ? batch.first_logit_row[s + 1]
                                                  : int(batch.logits_indices.size())) -
                       first;
      const float* last = logits.data<float>() + int64_t(first + rows - 1) * vocab;
      if (options_.record_logits) {
        const float* begin = logits.data<float>() + int64_t(first) * vocab;
        q.result.logits.insert(q.result.logits.end(), begin, begin + int64_t(rows) * vocab);
        q.result.logits_rows += rows;
      }
      q.num_cached = int(q.tokens.size());
      const int32_t next = GreedySample(last, vocab);
      q.tokens.push_back(next);
      q.result.output_ids.push_back(next);
      const bool stop = !q.request->ignore_eos &&
                        std::find(options_.stop_token_ids.begin(), options_.stop_token_ids.end(),
                                  next) != options_.stop_token_ids.end();
      if (stop || int(q.result.output_ids.size()) >= q.request->max_tokens) {
        q.finished = true;
        q.result.finish_reason = stop ? "stop" : "length";
        cache.Free(q.block_table);
        q.block_table.clear();
      }
    }
    const double seconds = Seconds(start);
    if (step == 0) {
      local.prefill_seconds += seconds;
      local.prefill_tokens += int64_t(batch.token_ids.size());
    } else {
      local.decode_seconds += seconds;
      local.decode_tokens += int64_t(batch.token_ids.size());
      ++local.decode_steps;
    }
  }
  if (stats != nullptr) *stats = local;

  std::vector<GenerateResult> results;
  for (Sequence& q : seqs) results.push_back(std::move(q.result));
  return results;
}

}  // namespace atom
