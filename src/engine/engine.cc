#include "engine/engine.h"

#include <algorithm>
#include <limits>

#include "core/logging.h"
#include "engine/penalty_state.h"
#include "engine/random.h"
#include "engine/stop_strings.h"

namespace atom {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
  }
  return "?";
}

struct Engine::Request {
  int64_t id = 0;
  std::vector<int32_t> prompt;
  SamplingParams params;
  OutputCallback callback;
  RequestOptions options;
  uint64_t seed = 0;       // params.seed, or drawn at admission
  int64_t max_tokens = 0;  // resolved against max_model_len
  int unfinished = 0;      // sequences not finished yet
  bool forked = false;     // the n - 1 siblings of sequence 0 exist
  bool aborted = false;
  std::vector<int64_t> seq_ids;
};

struct Engine::SeqState {
  Sequence seq;
  Request* request = nullptr;
  PenaltyState penalties;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  std::unique_ptr<StopStringMatcher> stop_strings;
  std::vector<SampleResult> prompt_logprobs;  // collected over prefill chunks
  std::vector<float> logits;                  // RequestOptions::return_logits, not yet reported
  int64_t logits_rows = 0;
  int64_t logits_next_position = 0;   // positions before it were reported (preemption
                                      // recomputes them; they are not sent twice)
  int64_t cached_prompt_tokens = -1;  // -1 until first admitted
  bool reported = false;              // the first output went out
};

Engine::Engine(Model& model, const Tokenizer* tokenizer, EngineConfig config, KvCache cache)
    : model_(model),
      tokenizer_(tokenizer),
      config_(std::move(config)),
      blocks_(config_.num_kv_blocks, config_.block_size, config_.enable_prefix_caching),
      scheduler_(config_.scheduler, blocks_),
      runner_(model, std::move(cache)) {}

StatusOr<std::unique_ptr<Engine>> Engine::Create(Model& model, const Tokenizer* tokenizer,
                                                 EngineConfig config) {
  const ModelConfig& mc = model.config();
  if (config.block_size <= 0) return InvalidArgument("block_size must be positive");
  if (config.max_model_len <= 0) config.max_model_len = mc.max_position_embeddings;
  if (config.max_model_len > mc.max_position_embeddings)
    return InvalidArgument("max_model_len {} exceeds the model's max_position_embeddings {}",
                           config.max_model_len, mc.max_position_embeddings);
  if (config.scheduler.max_num_seqs <= 0) return InvalidArgument("max_num_seqs must be positive");
  if (config.scheduler.max_num_batched_tokens <= 0)
    return InvalidArgument("max_num_batched_tokens must be positive");
  if (!config.scheduler.enable_chunked_prefill &&
      config.scheduler.max_num_batched_tokens < config.max_model_len)
    return InvalidArgument(
        "without chunked prefill, max_num_batched_tokens ({}) must be at "
        "least max_model_len ({}) so every prompt fits in one step",
        config.scheduler.max_num_batched_tokens, config.max_model_len);
  if (config.num_kv_blocks <= 0) {
    const uint64_t per_block = KvCache::BlockBytes(model.kv_cache_spec(), config.block_size);
    // Never more than every running sequence at full length could use.
    const uint64_t useful = uint64_t(config.scheduler.max_num_seqs) *
                            ((config.max_model_len + config.block_size - 1) / config.block_size);
    config.num_kv_blocks = int(std::min<uint64_t>(
        {config.kv_cache_bytes / per_block, useful, uint64_t(std::numeric_limits<int>::max())}));
  }
  if (config.num_kv_blocks <= 0)
    return InvalidArgument("the KV cache budget holds no block of {} tokens", config.block_size);
  ATOM_ASSIGN_OR_RETURN(KvCache cache, KvCache::Create(model.kv_cache_spec(), config.num_kv_blocks,
                                                       config.block_size));
  return std::unique_ptr<Engine>(new Engine(model, tokenizer, std::move(config), std::move(cache)));
}

Engine::~Engine() { Stop(); }

StatusOr<int64_t> Engine::AddRequest(std::vector<int32_t> prompt, SamplingParams params,
                                     OutputCallback callback, RequestOptions options) {
  const int64_t vocab = model_.config().vocab_size;
  ATOM_RETURN_IF_ERROR(params.Validate(vocab));
  if (prompt.empty()) return InvalidArgument("prompt: must not be empty");
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] < 0 || prompt[i] >= vocab)
      return InvalidArgument("prompt: token {} (id {}) is outside the vocabulary [0, {})", i,
                             prompt[i], vocab);
  const int64_t len = int64_t(prompt.size());
  if (len >= config_.max_model_len)
    return InvalidArgument("prompt: {} tokens leave no room in the context of {} tokens", len,
                           config_.max_model_len);
  if (!params.stop.empty() && tokenizer_ == nullptr)
    return InvalidArgument("stop: stop strings need a tokenizer, and this model has none");
  auto request = std::make_unique<Request>();
  request->max_tokens = std::min<int64_t>(params.max_tokens.value_or(config_.max_model_len),
                                          config_.max_model_len - len);
  // A sequence that could never fit the whole cache would wait forever.
  if (blocks_.BlocksFor(len + request->max_tokens) > blocks_.num_blocks())
    return InvalidArgument(
        "max_tokens: prompt + max_tokens = {} tokens exceed the KV cache ({} tokens)",
        len + request->max_tokens, int64_t(blocks_.num_blocks()) * config_.block_size);
  if (pending_requests_.fetch_add(1) >= config_.max_pending_requests) {
    pending_requests_.fetch_sub(1);
    return ResourceExhausted("too many pending requests ({})", config_.max_pending_requests);
  }
  request->id = next_request_id_.fetch_add(1);
  request->prompt = std::move(prompt);
  request->seed = params.seed.value_or(DrawRequestSeed());
  request->params = std::move(params);
  request->callback = std::move(callback);
  request->options = options;
  const int64_t id = request->id;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(std::move(request));
  }
  inbox_cv_.notify_one();
  return id;
}

StatusOr<int64_t> Engine::AddRequest(std::string_view prompt, SamplingParams params,
                                     OutputCallback callback, RequestOptions options) {
  if (tokenizer_ == nullptr)
    return InvalidArgument("prompt: text prompts need a tokenizer, and this model has none");
  return AddRequest(tokenizer_->Encode(prompt), std::move(params), std::move(callback), options);
}

void Engine::Abort(int64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    aborts_.push_back(request_id);
  }
  inbox_cv_.notify_one();
}

void Engine::TakeInbox() {
  std::deque<std::unique_ptr<Request>> incoming;
  std::vector<int64_t> aborts;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    incoming.swap(inbox_);
    aborts.swap(aborts_);
  }
  for (auto& r : incoming) {
    auto s = std::make_unique<SeqState>();
    s->request = r.get();
    s->seq.id = next_seq_id_++;
    s->seq.request_id = r->id;
    s->seq.index = 0;
    s->seq.tokens = r->prompt;
    s->seq.num_prompt_tokens = int64_t(r->prompt.size());
    if (r->params.has_penalties()) s->penalties = PenaltyState(r->prompt);
    if (tokenizer_ != nullptr) {
      s->detokenizer = std::make_unique<IncrementalDetokenizer>(*tokenizer_);
      s->stop_strings =
          std::make_unique<StopStringMatcher>(r->params.stop, r->params.include_stop_str_in_output);
    }
    r->unfinished = 1;  // siblings are added when sequence 0 forks
    r->seq_ids.push_back(s->seq.id);
    scheduler_.Add(&s->seq);
    seqs_[s->seq.id] = std::move(s);
    requests_[r->id] = std::move(r);
  }
  for (int64_t id : aborts) {
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second->aborted) continue;
    it->second->aborted = true;
    for (int64_t seq_id : it->second->seq_ids) {
      SeqState& s = *seqs_.at(seq_id);
      if (s.seq.status == SequenceStatus::kFinished) continue;
      RequestOutput out;
      FinishSequence(s, FinishReason::kAbort, &out);
      Emit(s, out);
    }
  }
}

void Engine::FinishSequence(SeqState& s, FinishReason reason, RequestOutput* out) {
  scheduler_.Remove(&s.seq);  // frees its blocks
  out->finish_reason = reason;
  // Text held back for a possible stop string is released, unless a stop string matched.
  if (s.stop_strings && !s.stop_strings->matched()) {
    std::string rest = s.detokenizer->Flush();
    out->text += s.stop_strings->Push(rest);
    out->text += s.stop_strings->Flush();
  }
  --s.request->unfinished;
}

void Engine::Emit(SeqState& s, RequestOutput& out) {
  out.request_id = s.request->id;
  out.index = s.seq.index;
  out.num_prompt_tokens = s.seq.num_prompt_tokens;
  out.num_cached_prompt_tokens = std::max<int64_t>(0, s.cached_prompt_tokens);
  out.num_output_tokens = s.seq.num_output_tokens();
  if (!s.reported) out.prompt_logprobs = std::move(s.prompt_logprobs);
  out.logits = std::move(s.logits);
  out.logits_rows = s.logits_rows;
  s.logits.clear();
  s.logits_rows = 0;
  s.reported = true;
  if (s.request->callback) s.request->callback(out);
}

void Engine::AcceptToken(SeqState& s, const SampleResult& sample, RequestOutput* out) {
  const Request& r = *s.request;
  const int32_t token = sample.token;
  s.seq.tokens.push_back(token);
  if (r.params.has_penalties()) s.penalties.AddOutputToken(token);
  out->token_ids.push_back(token);
  if (r.params.logprobs) out->logprobs.push_back(sample);
  ++loop_stats_.generated_tokens;

  const bool is_stop_id =
      std::count(r.params.stop_token_ids.begin(), r.params.stop_token_ids.end(), token) > 0 ||
      (!r.params.ignore_eos &&
       std::count(config_.eos_token_ids.begin(), config_.eos_token_ids.end(), token) > 0);
  if (s.detokenizer) {
    const bool hide = is_stop_id || (r.params.skip_special_tokens && tokenizer_->IsSpecial(token));
    if (!hide) {
      StatusOr<std::string> piece = s.detokenizer->Push(token);
      if (piece.ok()) out->text += s.stop_strings->Push(*piece);
    }
    if (s.stop_strings->matched()) {
      out->stop_string = s.stop_strings->matched_stop();
      FinishSequence(s, FinishReason::kStop, out);
      return;
    }
  }
  if (is_stop_id) {
    out->stop_token = token;
    FinishSequence(s, FinishReason::kStop, out);
  } else if (s.seq.num_output_tokens() >= r.max_tokens) {
    FinishSequence(s, FinishReason::kLength, out);
  }
}

Status Engine::ForkChildren(SeqState& parent, const float* logits) {
  Request& r = *parent.request;
  r.forked = true;
  const int64_t vocab = model_.config().vocab_size;
  for (int i = 1; i < r.params.n; ++i) {
    auto s = std::make_unique<SeqState>();
    s->request = &r;
    s->seq.id = next_seq_id_++;
    s->seq.request_id = r.id;
    s->seq.index = i;
    s->seq.tokens = parent.seq.tokens;  // the prompt: the parent has not appended yet
    s->seq.num_prompt_tokens = parent.seq.num_prompt_tokens;
    s->penalties = parent.penalties;
    s->cached_prompt_tokens = parent.cached_prompt_tokens;
    if (tokenizer_ != nullptr) {
      s->detokenizer = std::make_unique<IncrementalDetokenizer>(*tokenizer_);
      s->stop_strings =
          std::make_unique<StopStringMatcher>(r.params.stop, r.params.include_stop_str_in_output);
    }
    r.seq_ids.push_back(s->seq.id);
    ++r.unfinished;
    SeqState& child = *s;
    seqs_[child.seq.id] = std::move(s);

    if (!blocks_.CanFork(parent.seq.block_table, parent.seq.num_computed)) {
      scheduler_.Add(&child.seq);  // no block to copy into: recompute the prompt later
      continue;
    }
    auto [src, dst] =
        blocks_.Fork(parent.seq.block_table, parent.seq.num_computed, &child.seq.block_table);
    if (src >= 0) {
      ATOM_RETURN_IF_ERROR(runner_.CopyBlock(src, dst));
    }
    child.seq.num_computed = parent.seq.num_computed;
    scheduler_.AddRunning(&child.seq);
    SampleRow row;
    row.logits = logits;
    row.params = &r.params;
    row.penalties = r.params.has_penalties() ? &child.penalties : nullptr;
    row.seed = r.seed;
    row.seq_index = uint32_t(i);
    row.position = 0;
    row.eos_token_ids = config_.eos_token_ids;
    RequestOutput out;
    AcceptToken(child, Sample(row, vocab), &out);
    Emit(child, out);
  }
  return OkStatus();
}

StatusOr<bool> Engine::Step() {
  TakeInbox();
  const SchedulerOutput step = scheduler_.Schedule();
  loop_stats_.num_preemptions += int64_t(step.preempted.size());
  if (step.empty()) {
    RemoveFinished();  // requests aborted in TakeInbox
    return scheduler_.has_work();
  }

  std::vector<bool> all_rows(step.scheduled.size());
  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    SeqState& s = *seqs_.at(step.scheduled[i].seq->id);
    if (s.cached_prompt_tokens < 0) s.cached_prompt_tokens = s.seq.num_computed;
    all_rows[i] =
        (s.request->params.prompt_logprobs.has_value() && !s.reported && s.seq.in_prefill()) ||
        s.request->options.return_logits;
    if (s.seq.in_prefill()) loop_stats_.prompt_tokens_computed += step.scheduled[i].num_tokens;
  }
  // The rows to sample, in scheduled order (their logits pointers are set once the model ran).
  const int64_t vocab = model_.config().vocab_size;
  std::vector<SampleRow> rows;
  std::vector<size_t> row_of;  // scheduled index of each sampled row
  bool any_row_needs_logits = false;
  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    const SeqState& s = *seqs_.at(step.scheduled[i].seq->id);
    any_row_needs_logits = any_row_needs_logits || all_rows[i];
    if (!step.scheduled[i].samples) continue;
    const Request& r = *s.request;
    // The first token of an n > 1 request also samples its siblings from the same logits.
    any_row_needs_logits = any_row_needs_logits || (r.params.n > 1 && !r.forked);
    SampleRow row;
    row.params = &r.params;
    row.penalties = r.params.has_penalties() ? &s.penalties : nullptr;
    row.seed = r.seed;
    row.seq_index = uint32_t(s.seq.index);
    row.position = s.seq.num_output_tokens();
    row.eos_token_ids = config_.eos_token_ids;
    rows.push_back(row);
    row_of.push_back(i);
  }
  // Plain greedy everywhere: the model may pick the tokens itself (on the GPU, the logits then
  // never leave the device). Otherwise the model may sample on its device, unless some row needs
  // the logits on the host.
  bool argmax_only = model_.SupportsArgmax() && !any_row_needs_logits;
  for (size_t k = 0; argmax_only && k < rows.size(); ++k)
    argmax_only = rows[k].params->plain_greedy();
  const bool on_device = !argmax_only && !rows.empty() && !any_row_needs_logits &&
                         config_.device_sampling && model_.SupportsSampling() &&
                         int(rows.size()) >= config_.device_sampling_min_rows;
  const ops::SamplingRows* sampling = nullptr;
  if (on_device) {
    device_sampling_.Clear();
    for (const SampleRow& row : rows) device_sampling_.Add(row);
    sampling = &device_sampling_.request();
  }
  ATOM_ASSIGN_OR_RETURN(StepLogits logits, runner_.Run(step, all_rows, argmax_only, sampling));
  scheduler_.OnStepComputed(step);
  ++loop_stats_.num_steps;

  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    const ScheduledSequence& sched = step.scheduled[i];
    SeqState& s = *seqs_.at(sched.seq->id);
    if (s.request->options.return_logits) {
      const int64_t begin = s.seq.num_computed - sched.num_tokens;
      for (int32_t k = 0; k < logits.num_rows[i]; ++k) {
        if (begin + k < s.logits_next_position) continue;
        const float* row = logits.Row(logits.first_row[i] + k);
        s.logits.insert(s.logits.end(), row, row + vocab);
        ++s.logits_rows;
      }
      s.logits_next_position = std::max(s.logits_next_position, s.seq.num_computed);
    }
    if (all_rows[i] && s.request->params.prompt_logprobs && !s.reported) {
      // Row k predicts the token after position begin + k; prompt logprobs cover tokens 1..n-1.
      const int64_t begin = s.seq.num_computed - sched.num_tokens;
      const int top = *s.request->params.prompt_logprobs;
      for (int32_t k = 0; k < logits.num_rows[i]; ++k) {
        const int64_t next = begin + k + 1;
        if (next >= s.seq.num_prompt_tokens) break;
        SampleResult lp;
        lp.token = s.seq.tokens[next];
        ComputeLogprobs(logits.Row(logits.first_row[i] + k), vocab, lp.token, top, &lp.logprob,
                        &lp.top_logprobs);
        s.prompt_logprobs.push_back(std::move(lp));
      }
    }
  }
  std::vector<SampleResult> samples(rows.size());
  if (argmax_only) {
    for (size_t k = 0; k < rows.size(); ++k) {
      const size_t i = row_of[k];
      samples[k].token = logits.argmax[size_t(logits.first_row[i] + logits.num_rows[i] - 1)];
    }
  } else if (on_device) {
    for (size_t k = 0; k < rows.size(); ++k) device_sampling_.Result(k, &samples[k]);
  } else {
    for (size_t k = 0; k < rows.size(); ++k) rows[k].logits = logits.Last(row_of[k]);
    SampleBatch(rows, vocab, samples);
  }

  for (size_t k = 0; k < rows.size(); ++k) {
    SeqState& s = *seqs_.at(step.scheduled[row_of[k]].seq->id);
    if (s.request->params.n > 1 && !s.request->forked) {
      ATOM_RETURN_IF_ERROR(ForkChildren(s, rows[k].logits));
    }
    RequestOutput out;
    AcceptToken(s, samples[k], &out);
    Emit(s, out);
  }
  RemoveFinished();
  return scheduler_.has_work();
}

void Engine::RemoveFinished() {
  for (auto it = requests_.begin(); it != requests_.end();) {
    Request& r = *it->second;
    if (r.unfinished > 0) {
      ++it;
      continue;
    }
    for (int64_t seq_id : r.seq_ids) seqs_.erase(seq_id);
    pending_requests_.fetch_sub(1);
    it = requests_.erase(it);
  }
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  published_stats_ = loop_stats_;
  published_stats_.num_running = scheduler_.num_running();
  published_stats_.num_waiting = scheduler_.num_waiting();
  published_stats_.num_kv_blocks = blocks_.num_blocks();
  published_stats_.num_free_kv_blocks = blocks_.num_free_blocks();
  published_stats_.prefix_cache_queries = blocks_.stats().queries;
  published_stats_.prefix_cache_hits = blocks_.stats().hits;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return published_stats_;
}

void Engine::Start() {
  if (loop_.joinable()) return;
  stopping_ = false;
  loop_ = std::thread([this] { LoopMain(); });
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    stopping_ = true;
  }
  inbox_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
}

void Engine::LoopMain() {
  bool busy = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(inbox_mutex_);
      inbox_cv_.wait(lock,
                     [&] { return stopping_ || busy || !inbox_.empty() || !aborts_.empty(); });
      if (stopping_) return;
    }
    StatusOr<bool> more = Step();
    if (!more.ok()) {
      // A failed forward is a bug or a broken backend: end every request rather than spin.
      ATOM_LOG_ERROR("engine step failed: {}", more.status().ToString());
      std::vector<int64_t> ids;
      for (const auto& [id, r] : requests_) ids.push_back(id);
      for (int64_t id : ids) Abort(id);
      busy = true;
      continue;
    }
    busy = *more;
  }
}

}  // namespace atom
