#include "server/metrics.h"

#include <prometheus/text_serializer.h>

namespace atom {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Seconds, from sub-millisecond decode steps to multi-minute requests.
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,  0.25, 0.5,
          0.75,  1.0,    2.5,   5.0,  7.5,   10.0, 20.0,  40.0, 80.0, 160.0};
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("atom:http_requests_total")
                    .Help("HTTP requests by endpoint and status code")
                    .Register(*registry_)),
      prompt_tokens_(BuildCounter()
                         .Name("atom:prompt_tokens_total")
                         .Help("Prompt tokens of finished requests")
                         .Register(*registry_)
                         .Add({})),
      generated_tokens_(BuildCounter()
                            .Name("atom:generation_tokens_total")
                            .Help("Generated tokens of finished requests")
                            .Register(*registry_)
                            .Add({})),
      ttft_(BuildHistogram()
                .Name("atom:time_to_first_token_seconds")
                .Help("Time from arrival to the first generated token")
                .Register(*registry_)
                .Add({}, LatencyBuckets())),
      tpot_(BuildHistogram()
                .Name("atom:time_per_output_token_seconds")
                .Help("Mean time per generated token after the first, per request")
                .Register(*registry_)
                .Add({}, LatencyBuckets())),
      e2e_(BuildHistogram()
               .Name("atom:e2e_request_latency_seconds")
               .Help("Time from arrival to the last token")
               .Register(*registry_)
               .Add({}, LatencyBuckets())),
      running_(BuildGauge()
                   .Name("atom:num_requests_running")
                   .Help("Sequences scheduled in the engine")
                   .Register(*registry_)
                   .Add({})),
      waiting_(BuildGauge()
                   .Name("atom:num_requests_waiting")
                   .Help("Sequences queued for admission")
                   .Register(*registry_)
                   .Add({})),
      kv_blocks_used_(BuildGauge()
                          .Name("atom:kv_cache_blocks_used")
                          .Help("KV-cache blocks referenced by sequences")
                          .Register(*registry_)
                          .Add({})),
      kv_blocks_total_(BuildGauge()
                           .Name("atom:kv_cache_blocks_total")
                           .Help("KV-cache blocks in all")
                           .Register(*registry_)
                           .Add({})),
      prefix_cache_queries_(BuildGauge()
                                .Name("atom:prefix_cache_queries_tokens")
                                .Help("Prompt tokens looked up in the prefix cache")
                                .Register(*registry_)
                                .Add({})),
      prefix_cache_hits_(BuildGauge()
                             .Name("atom:prefix_cache_hits_tokens")
                             .Help("Prompt tokens found in the prefix cache")
                             .Register(*registry_)
                             .Add({})),
      preemptions_(BuildGauge()
                       .Name("atom:num_preemptions")
                       .Help("Sequences preempted for lack of KV blocks, since start")
                       .Register(*registry_)
                       .Add({})) {}

void ServerMetrics::RecordRequest(const std::string& endpoint, int status) {
  requests_.Add({{"endpoint", endpoint}, {"status", std::to_string(status)}}).Increment();
}

void ServerMetrics::RecordGeneration(int64_t prompt_tokens, int64_t generated_tokens, double ttft_s,
                                     double tpot_s, double e2e_s) {
  prompt_tokens_.Increment(double(prompt_tokens));
  generated_tokens_.Increment(double(generated_tokens));
  if (generated_tokens > 0) ttft_.Observe(ttft_s);
  if (generated_tokens > 1) tpot_.Observe(tpot_s);
  e2e_.Observe(e2e_s);
}

std::string ServerMetrics::Render(const EngineStats& stats) {
  running_.Set(stats.num_running);
  waiting_.Set(stats.num_waiting);
  kv_blocks_used_.Set(stats.num_kv_blocks - stats.num_free_kv_blocks);
  kv_blocks_total_.Set(stats.num_kv_blocks);
  prefix_cache_queries_.Set(double(stats.prefix_cache_queries));
  prefix_cache_hits_.Set(double(stats.prefix_cache_hits));
  preemptions_.Set(double(stats.num_preemptions));
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace atom
