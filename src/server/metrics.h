// ServerMetrics: what `GET /metrics` reports, in the Prometheus text format (prometheus-cpp).
//
// Request-level numbers (counts by endpoint and status, token counters, latency histograms) are
// recorded by the request handlers as requests finish; engine-level gauges (running and waiting
// requests, KV blocks, prefix-cache hits) are read from EngineStats when the page is rendered.
// Names follow vLLM's `vllm:*` metrics under the `atom:` prefix. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "engine/engine.h"

namespace atom {

class ServerMetrics {
 public:
  ServerMetrics();

  // One finished HTTP request to `endpoint` ("/v1/chat/completions") with `status`.
  void RecordRequest(const std::string& endpoint, int status);
  // A finished generation request: its token counts and latencies in seconds (time to first
  // token, mean time per output token after the first, end to end).
  void RecordGeneration(int64_t prompt_tokens, int64_t generated_tokens, double ttft_s,
                        double tpot_s, double e2e_s);

  // The text exposition, with gauges refreshed from `stats`.
  std::string Render(const EngineStats& stats);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generated_tokens_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& tpot_;
  prometheus::Histogram& e2e_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& kv_blocks_used_;
  prometheus::Gauge& kv_blocks_total_;
  prometheus::Gauge& prefix_cache_queries_;
  prometheus::Gauge& prefix_cache_hits_;
  prometheus::Gauge& preemptions_;
};

}  // namespace atom
