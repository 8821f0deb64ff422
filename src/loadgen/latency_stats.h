// Latency statistics of a load run and its report, as vLLM's benchmark_serving computes and
// prints them: throughput over successful requests, and mean/median/p90/p99 of TTFT, TPOT, ITL
// and E2E latency in milliseconds.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/request_result.h"

namespace atom::loadgen {

// The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's
// default). 0 for no samples.
double Percentile(std::vector<double> samples, double p);

// Summary of one latency metric, in milliseconds. All zero for no samples (as vLLM prints).
struct LatencyDistribution {
  size_t count = 0;
  double mean_ms = 0;
  double median_ms = 0;
  double std_ms = 0;  // population standard deviation
  double p90_ms = 0;
  double p99_ms = 0;
};

// `seconds` summarized in milliseconds.
LatencyDistribution Distribution(const std::vector<double>& seconds);

// Time per output token after the first: (e2e - ttft) / (output_tokens - 1), in seconds.
// nullopt when it is undefined: fewer than two output tokens, or no token arrived at all.
std::optional<double> TimePerOutputToken(const RequestResult& r);

struct BenchmarkSummary {
  int completed = 0;  // successful requests
  int failed = 0;
  int disconnected = 0;
  double duration_s = 0;
  int64_t total_input_tokens = 0;  // of successful requests
  int64_t total_output_tokens = 0;
  double request_throughput = 0;      // successful requests per second
  double output_throughput = 0;       // output tokens per second
  double total_token_throughput = 0;  // input + output tokens per second
  // Over successful requests; ITL pools the gaps of all of them.
  LatencyDistribution ttft, tpot, itl, e2e;
};

// REQUIRES: duration_s >= 0 (throughputs are 0 when it is 0).
BenchmarkSummary Summarize(const std::vector<RequestResult>& results, double duration_s);

// The result table, like vLLM's "Serving Benchmark Result" block, ending in a newline.
std::string FormatReport(const BenchmarkSummary& summary);

// The summary's numbers (vLLM's key names, plus failed/disconnected and p90) and per-request
// arrays: input_lens, output_lens, ttfts and e2els (seconds), itls (seconds, one list per
// request), outcomes ("success" | "failed" | "disconnected") and errors, in request order.
nlohmann::json ReportJson(const BenchmarkSummary& summary,
                          const std::vector<RequestResult>& results);

}  // namespace atom::loadgen
