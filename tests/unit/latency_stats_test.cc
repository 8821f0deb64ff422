// Latency statistics of load runs: percentiles, TPOT edge cases, the summary over outcomes and
// the report's table and JSON.
#include "loadgen/latency_stats.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace atom::loadgen {
namespace {

RequestResult Success(double ttft, double e2e, int64_t output_tokens,
                      std::vector<double> itl = {}) {
  RequestResult r;
  r.outcome = RequestOutcome::kSuccess;
  r.http_status = 200;
  r.ttft_s = ttft;
  r.e2e_s = e2e;
  r.output_tokens = output_tokens;
  r.content_chunks = output_tokens;
  r.prompt_tokens = 10;
  r.itl_s = std::move(itl);
  return r;
}

// One row of the report table: the label padded to 40 columns, a space, then the value.
std::string Row(std::string_view label, std::string_view value) {
  return fmt::format("{:<40} {}", label, value);
}

TEST(LatencyStatsTest, PercentileInterpolatesLinearlyLikeNumpy) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({7}, 0), 7);
  EXPECT_EQ(Percentile({7}, 99), 7);
  const std::vector<double> v = {4, 1, 3, 2};  // unsorted on purpose
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 3.97);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 4);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(hundred, 50), 50.5);
  EXPECT_DOUBLE_EQ(Percentile(hundred, 99), 99.01);
}

TEST(LatencyStatsTest, DistributionIsInMilliseconds) {
  LatencyDistribution d = Distribution({0.001, 0.003});
  EXPECT_EQ(d.count, 2u);
  EXPECT_DOUBLE_EQ(d.mean_ms, 2);
  EXPECT_DOUBLE_EQ(d.median_ms, 2);
  EXPECT_DOUBLE_EQ(d.std_ms, 1);  // population standard deviation
  EXPECT_DOUBLE_EQ(d.p99_ms, 2.98);
  LatencyDistribution none = Distribution({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.mean_ms, 0);
  EXPECT_EQ(none.p99_ms, 0);
}

TEST(LatencyStatsTest, TpotNeedsTwoTokens) {
  EXPECT_DOUBLE_EQ(*TimePerOutputToken(Success(0.1, 1.0, 10)), 0.1);
  EXPECT_DOUBLE_EQ(*TimePerOutputToken(Success(0.1, 0.3, 2)), 0.2);
  EXPECT_FALSE(TimePerOutputToken(Success(0.1, 0.1, 1)).has_value());
  EXPECT_FALSE(TimePerOutputToken(Success(0, 0.1, 0)).has_value());
  // Usage reported tokens, but no content chunk arrived: there is no TTFT to measure from.
  RequestResult silent = Success(0, 0.5, 4);
  silent.content_chunks = 0;
  EXPECT_FALSE(TimePerOutputToken(silent).has_value());
  // Every token in one chunk: TPOT is (e2e - ttft) spread over the later tokens, never negative.
  EXPECT_DOUBLE_EQ(*TimePerOutputToken(Success(0.5, 0.5, 8)), 0);
  EXPECT_DOUBLE_EQ(*TimePerOutputToken(Success(0.5, 0.4, 8)), 0);
}

TEST(LatencyStatsTest, SummaryCountsOnlySuccessfulRequests) {
  std::vector<RequestResult> results = {Success(0.1, 1.1, 11, {0.1, 0.1}),
                                        Success(0.3, 2.3, 21, {0.2})};
  RequestResult failed;
  failed.outcome = RequestOutcome::kFailed;
  failed.error = "HTTP 500: boom";
  failed.e2e_s = 100;
  failed.output_tokens = 1000;
  results.push_back(failed);
  RequestResult gone = Success(0.05, 0.2, 2);
  gone.outcome = RequestOutcome::kDisconnected;
  results.push_back(gone);

  BenchmarkSummary s = Summarize(results, 2.0);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.disconnected, 1);
  EXPECT_EQ(s.total_input_tokens, 20);
  EXPECT_EQ(s.total_output_tokens, 32);
  EXPECT_DOUBLE_EQ(s.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(s.output_throughput, 16.0);
  EXPECT_DOUBLE_EQ(s.total_token_throughput, 26.0);
  EXPECT_EQ(s.ttft.count, 2u);
  EXPECT_DOUBLE_EQ(s.ttft.mean_ms, 200);
  EXPECT_EQ(s.tpot.count, 2u);
  EXPECT_DOUBLE_EQ(s.tpot.mean_ms, 100);  // 1.0 s / 10 and 2.0 s / 20
  EXPECT_EQ(s.itl.count, 3u);             // pooled over requests
  EXPECT_NEAR(s.itl.median_ms, 100, 1e-9);
  EXPECT_DOUBLE_EQ(s.e2e.p99_ms, 1000 * (1.1 + 0.99 * 1.2));
}

TEST(LatencyStatsTest, ZeroDurationOrNothingSucceededGivesZeros) {
  RequestResult gone;
  gone.outcome = RequestOutcome::kDisconnected;
  BenchmarkSummary s = Summarize({gone, gone}, 0);
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(s.disconnected, 2);
  EXPECT_EQ(s.request_throughput, 0);
  EXPECT_EQ(s.ttft.mean_ms, 0);
  EXPECT_NE(FormatReport(s).find(Row("Disconnected requests:", "2")), std::string::npos);
}

TEST(LatencyStatsTest, ReportTableAndJson) {
  std::vector<RequestResult> results = {Success(0.1, 1.1, 11, {0.1})};
  RequestResult failed;
  failed.outcome = RequestOutcome::kFailed;
  failed.http_status = 400;
  failed.error = "HTTP 400: bad";
  results.push_back(failed);
  BenchmarkSummary s = Summarize(results, 4.0);

  const std::string table = FormatReport(s);
  EXPECT_TRUE(table.starts_with("============ Serving Benchmark Result ============\n")) << table;
  EXPECT_NE(table.find(Row("Successful requests:", "1         \n")), std::string::npos) << table;
  EXPECT_NE(table.find(Row("Failed requests:", "1")), std::string::npos);
  EXPECT_NE(table.find(Row("Request throughput (req/s):", "0.25")), std::string::npos);
  EXPECT_NE(table.find("---------------Time to First Token----------------"), std::string::npos);
  EXPECT_NE(table.find(Row("Median TTFT (ms):", "100.00")), std::string::npos);
  EXPECT_NE(table.find(Row("P90 TPOT (ms):", "100.00")), std::string::npos);
  EXPECT_NE(table.find(Row("P99 E2EL (ms):", "1100.00")), std::string::npos);
  EXPECT_EQ(table.find("Disconnected"), std::string::npos);  // only shown when there are some
  EXPECT_TRUE(table.ends_with(std::string(50, '=') + "\n"));

  nlohmann::json j = ReportJson(s, results);
  EXPECT_EQ(j["completed"], 1);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_DOUBLE_EQ(j["median_ttft_ms"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(j["p90_itl_ms"].get<double>(), 100);
  EXPECT_EQ(j["output_lens"], nlohmann::json::array({11, 0}));
  EXPECT_EQ(j["itls"][0], nlohmann::json::array({0.1}));
  EXPECT_EQ(j["outcomes"], nlohmann::json::array({"success", "failed"}));
  EXPECT_EQ(j["errors"][1], "HTTP 400: bad");
  EXPECT_EQ(j["http_statuses"][1], 400);
}

}  // namespace
}  // namespace atom::loadgen
