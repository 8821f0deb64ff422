// Engine: requests in, streamed tokens out. It owns the scheduler, the block manager, the model
// runner and the per-request state, and runs steps on its own loop thread.
//
//   Engine::Create(model, tokenizer, config) -> AddRequest(prompt, params, callback) -> id
//   callbacks on the loop thread: RequestOutput per step; Abort(id) ends a request early.
//
// Thread-safety: AddRequest, Abort and the stats accessors may be called from any thread; they
// only queue work for the loop thread, which is the only one touching scheduling state. Step() is
// the loop body, public so tests and the CLI can drive the engine synchronously without Start().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/block_manager.h"
#include "engine/device_sampling.h"
#include "engine/model_runner.h"
#include "engine/request_output.h"
#include "engine/sampling_params.h"
#include "engine/scheduler.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace atom {

struct EngineConfig {
  SchedulerConfig scheduler;
  int block_size = 16;
  bool enable_prefix_caching = true;
  // Longest prompt + output; 0 = the model's max_position_embeddings.
  int64_t max_model_len = 0;
  // KV blocks; 0 = as many as kv_cache_bytes holds.
  int num_kv_blocks = 0;
  uint64_t kv_cache_bytes = uint64_t(1) << 30;
  // Requests queued or running at most; more are refused (the server answers 503).
  int max_pending_requests = 4096;
  // Stop tokens for every request (the model's EOS set); SamplingParams::ignore_eos skips them.
  std::vector<int32_t> eos_token_ids;
  // Sample on the model's device when the model can (Model::SupportsSampling) and the step needs
  // no logits on the host; off: always on the host (SampleBatch). Both give the same tokens
  // (backends/cuda/sample_rows.h says how exactly).
  bool device_sampling = true;
  // Steps sampling fewer rows sample on the host: the device kernel takes one CTA per row, so a
  // few rows are quicker copied back (H100: one row with top-p 0.6 ms on the device; a row's
  // logits are 0.8 MB); from about 16 rows the copy and the host work cost more (bench/RESULTS.md).
  int device_sampling_min_rows = 16;
};

struct EngineStats {
  int num_running = 0;
  int num_waiting = 0;
  int num_kv_blocks = 0;
  int num_free_kv_blocks = 0;
  int64_t prefix_cache_queries = 0;  // prompt tokens looked up
  int64_t prefix_cache_hits = 0;
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;
  int64_t prompt_tokens_computed = 0;
  int64_t generated_tokens = 0;
};

class Engine {
 public:
  // `model` and `tokenizer` (may be null: no text output, no stop strings) must outlive the
  // engine. Fails on an inconsistent config (naming the field).
  static StatusOr<std::unique_ptr<Engine>> Create(Model& model, const Tokenizer* tokenizer,
                                                  EngineConfig config);
  ~Engine();  // stops the loop; requests still running get no further callbacks
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Errors (nothing queued): invalid params (naming the field), an empty
  // prompt, token ids outside the vocabulary, a prompt of max_model_len tokens or more, a prompt
  // + max_tokens that no KV cache state could hold, stop strings without a tokenizer; too many
  // pending requests is kResourceExhausted (retry later).
  StatusOr<int64_t> AddRequest(std::vector<int32_t> prompt, SamplingParams params,
                               OutputCallback callback, RequestOptions options = {});
  // The same for a text prompt, encoded (as ordinary text: special-token strings stay text) in the
  // caller's thread. Error without a tokenizer.
  StatusOr<int64_t> AddRequest(std::string_view prompt, SamplingParams params,
                               OutputCallback callback, RequestOptions options = {});
  // Ends a request: its sequences get a final output with FinishReason::kAbort (unless already
  // finished) and their KV blocks are freed within one step. Unknown ids are ignored.
  void Abort(int64_t request_id);

  // Runs one step: takes queued requests and aborts, schedules, runs the model, samples, and
  // reports. Returns whether work remains. Only one thread may call it, and not while Start()ed.
  StatusOr<bool> Step();
  // Runs Step() on a background thread until the engine is destroyed or Stop() is called.
  void Start();
  void Stop();

  EngineStats stats() const;
  const EngineConfig& config() const { return config_; }
  int64_t max_model_len() const { return config_.max_model_len; }

 private:
  struct Request;
  struct SeqState;

  Engine(Model& model, const Tokenizer* tokenizer, EngineConfig config, KvCache cache);
  void TakeInbox();
  void FinishSequence(SeqState& s, FinishReason reason, RequestOutput* out);
  void Emit(SeqState& s, RequestOutput& out);
  // Appends a sampled token and decides whether the sequence stops.
  void AcceptToken(SeqState& s, const SampleResult& sample, RequestOutput* out);
  Status ForkChildren(SeqState& parent, const float* logits);
  void RemoveFinished();
  void LoopMain();

  Model& model_;
  const Tokenizer* tokenizer_;
  EngineConfig config_;
  BlockManager blocks_;
  Scheduler scheduler_;
  ModelRunner runner_;
  DeviceSamplingBatch device_sampling_;  // the step's rows when the model samples them

  // Owned by the loop thread.
  std::unordered_map<int64_t, std::unique_ptr<Request>> requests_;
  std::unordered_map<int64_t, std::unique_ptr<SeqState>> seqs_;
  int64_t next_seq_id_ = 0;
  EngineStats loop_stats_;

  // Shared with callers.
  mutable std::mutex inbox_mutex_;
  std::condition_variable inbox_cv_;
  std::deque<std::unique_ptr<Request>> inbox_;
  std::vector<int64_t> aborts_;
  std::atomic<int64_t> next_request_id_{0};
  std::atomic<int> pending_requests_{0};
  EngineStats published_stats_;  // under inbox_mutex_
  bool stopping_ = false;
  std::thread loop_;
};

}  // namespace atom
