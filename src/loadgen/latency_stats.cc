#include "loadgen/latency_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace atom::loadgen {

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * double(samples.size() - 1);
  const size_t lo = size_t(std::floor(rank));
  const size_t hi = std::min(lo + 1, samples.size() - 1);
  return samples[lo] + (samples[hi] - samples[lo]) * (rank - double(lo));
}

LatencyDistribution Distribution(const std::vector<double>& seconds) {
  LatencyDistribution d;
  d.count = seconds.size();
  if (seconds.empty()) return d;
  const double n = double(seconds.size());
  const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / n;
  double squares = 0;
  for (double s : seconds) squares += (s - mean) * (s - mean);
  d.mean_ms = mean * 1e3;
  d.std_ms = std::sqrt(squares / n) * 1e3;
  d.median_ms = Percentile(seconds, 50) * 1e3;
  d.p90_ms = Percentile(seconds, 90) * 1e3;
  d.p99_ms = Percentile(seconds, 99) * 1e3;
  return d;
}

std::optional<double> TimePerOutputToken(const RequestResult& r) {
  if (r.output_tokens < 2 || r.content_chunks == 0) return std::nullopt;
  return std::max(0.0, r.e2e_s - r.ttft_s) / double(r.output_tokens - 1);
}

BenchmarkSummary Summarize(const std::vector<RequestResult>& results, double duration_s) {
  BenchmarkSummary s;
  s.duration_s = duration_s;
  std::vector<double> ttfts, tpots, itls, e2es;
  for (const RequestResult& r : results) {
    if (r.outcome == RequestOutcome::kFailed) ++s.failed;
    if (r.outcome == RequestOutcome::kDisconnected) ++s.disconnected;
    if (r.outcome != RequestOutcome::kSuccess) continue;
    ++s.completed;
    s.total_input_tokens += r.prompt_tokens;
    s.total_output_tokens += r.output_tokens;
    if (r.content_chunks > 0) ttfts.push_back(r.ttft_s);
    if (auto tpot = TimePerOutputToken(r)) tpots.push_back(*tpot);
    itls.insert(itls.end(), r.itl_s.begin(), r.itl_s.end());
    e2es.push_back(r.e2e_s);
  }
  if (duration_s > 0) {
    s.request_throughput = double(s.completed) / duration_s;
    s.output_throughput = double(s.total_output_tokens) / duration_s;
    s.total_token_throughput = double(s.total_input_tokens + s.total_output_tokens) / duration_s;
  }
  s.ttft = Distribution(ttfts);
  s.tpot = Distribution(tpots);
  s.itl = Distribution(itls);
  s.e2e = Distribution(e2es);
  return s;
}

namespace {

void AppendLatencyBlock(std::string& out, const char* title, const char* name,
                        const LatencyDistribution& d) {
  out += fmt::format("{:-^50}\n", title);
  out += fmt::format("{:<40} {:<10.2f}\n", fmt::format("Mean {} (ms):", name), d.mean_ms);
  out += fmt::format("{:<40} {:<10.2f}\n", fmt::format("Median {} (ms):", name), d.median_ms);
  out += fmt::format("{:<40} {:<10.2f}\n", fmt::format("P90 {} (ms):", name), d.p90_ms);
  out += fmt::format("{:<40} {:<10.2f}\n", fmt::format("P99 {} (ms):", name), d.p99_ms);
}

void AddLatencyKeys(nlohmann::json& j, const char* key, const LatencyDistribution& d) {
  j[fmt::format("mean_{}_ms", key)] = d.mean_ms;
  j[fmt::format("median_{}_ms", key)] = d.median_ms;
  j[fmt::format("std_{}_ms", key)] = d.std_ms;
  j[fmt::format("p90_{}_ms", key)] = d.p90_ms;
  j[fmt::format("p99_{}_ms", key)] = d.p99_ms;
}

const char* OutcomeName(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::kSuccess:
      return "success";
    case RequestOutcome::kFailed:
      return "failed";
    case RequestOutcome::kDisconnected:
      return "disconnected";
  }
  return "failed";
}

}  // namespace

std::string FormatReport(const BenchmarkSummary& s) {
  std::string out = fmt::format("{:=^50}\n", " Serving Benchmark Result ");
  out += fmt::format("{:<40} {:<10}\n", "Successful requests:", s.completed);
  out += fmt::format("{:<40} {:<10}\n", "Failed requests:", s.failed);
  if (s.disconnected > 0)
    out += fmt::format("{:<40} {:<10}\n", "Disconnected requests:", s.disconnected);
  out += fmt::format("{:<40} {:<10.2f}\n", "Benchmark duration (s):", s.duration_s);
  out += fmt::format("{:<40} {:<10}\n", "Total input tokens:", s.total_input_tokens);
  out += fmt::format("{:<40} {:<10}\n", "Total generated tokens:", s.total_output_tokens);
  out += fmt::format("{:<40} {:<10.2f}\n", "Request throughput (req/s):", s.request_throughput);
  out += fmt::format("{:<40} {:<10.2f}\n", "Output token throughput (tok/s):", s.output_throughput);
  out += fmt::format("{:<40} {:<10.2f}\n",
                     "Total Token throughput (tok/s):", s.total_token_throughput);
  AppendLatencyBlock(out, "Time to First Token", "TTFT", s.ttft);
  AppendLatencyBlock(out, "Time per Output Token (excl. 1st token)", "TPOT", s.tpot);
  AppendLatencyBlock(out, "Inter-token Latency", "ITL", s.itl);
  AppendLatencyBlock(out, "End-to-end Latency", "E2EL", s.e2e);
  out += std::string(50, '=') + "\n";
  return out;
}

nlohmann::json ReportJson(const BenchmarkSummary& s, const std::vector<RequestResult>& results) {
  nlohmann::json j = nlohmann::json::object();
  j["duration"] = s.duration_s;
  j["completed"] = s.completed;
  j["failed"] = s.failed;
  j["disconnected"] = s.disconnected;
  j["total_input_tokens"] = s.total_input_tokens;
  j["total_output_tokens"] = s.total_output_tokens;
  j["request_throughput"] = s.request_throughput;
  j["output_throughput"] = s.output_throughput;
  j["total_token_throughput"] = s.total_token_throughput;
  AddLatencyKeys(j, "ttft", s.ttft);
  AddLatencyKeys(j, "tpot", s.tpot);
  AddLatencyKeys(j, "itl", s.itl);
  AddLatencyKeys(j, "e2el", s.e2e);
  auto& input_lens = j["input_lens"] = nlohmann::json::array();
  auto& output_lens = j["output_lens"] = nlohmann::json::array();
  auto& ttfts = j["ttfts"] = nlohmann::json::array();
  auto& itls = j["itls"] = nlohmann::json::array();
  auto& e2els = j["e2els"] = nlohmann::json::array();
  auto& outcomes = j["outcomes"] = nlohmann::json::array();
  auto& statuses = j["http_statuses"] = nlohmann::json::array();
  auto& errors = j["errors"] = nlohmann::json::array();
  for (const RequestResult& r : results) {
    input_lens.push_back(r.prompt_tokens);
    output_lens.push_back(r.output_tokens);
    ttfts.push_back(r.ttft_s);
    itls.push_back(r.itl_s);
    e2els.push_back(r.e2e_s);
    outcomes.push_back(OutcomeName(r.outcome));
    statuses.push_back(r.http_status);
    errors.push_back(r.error);
  }
  return j;
}

}  // namespace atom::loadgen
