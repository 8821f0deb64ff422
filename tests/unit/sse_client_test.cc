// The load generator's streaming client against an in-process HttpServer answering canned SSE
// streams: event parsing across arbitrary splits, [DONE], error statuses, servers that close
// mid-stream, client disconnects, keep-alive reuse, and whole load runs.
#include "loadgen/sse_client.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "loadgen/latency_stats.h"
#include "loadgen/load_generator.h"
#include "loadgen/sse_parser.h"
#include "loadgen/stream_recorder.h"
#include "server/http_server.h"

namespace atom::loadgen {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string TextEvent(const std::string& text) {
  nlohmann::json chunk = {{"choices", {{{"index", 0}, {"text", text}}}}};
  return "data: " + chunk.dump() + "\n\n";
}

std::string UsageEvent(int prompt_tokens, int completion_tokens) {
  nlohmann::json chunk = {
      {"choices", nlohmann::json::array()},
      {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}}}};
  return "data: " + chunk.dump() + "\n\n";
}

const std::string kDone = "data: [DONE]\n\n";

// ---- SseParser --------------------------------------------------------------------------------

std::vector<std::string> ParseInPieces(const std::string& stream, size_t piece) {
  SseParser parser;
  std::vector<std::string> events;
  for (size_t i = 0; i < stream.size(); i += piece)
    parser.Feed(std::string_view(stream).substr(i, piece), &events);
  return events;
}

TEST(SseClientParserTest, EventsSurviveEverySplit) {
  const std::string stream =
      ": a comment\n\ndata: one\n\nevent: x\ndata: two\ndata:  2b\nid: 7\n\n"
      "data:three\r\n\r\ndata: four\r\rdata: [DONE]\n\n";
  const std::vector<std::string> expected = {"one", "two\n 2b", "three", "four", "[DONE]"};
  for (size_t piece = 1; piece <= stream.size(); ++piece)
    EXPECT_EQ(ParseInPieces(stream, piece), expected) << "pieces of " << piece;
}

TEST(SseClientParserTest, PartialEventIsHeldBack) {
  SseParser parser;
  std::vector<std::string> events;
  parser.Feed("data: {\"a\":", &events);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.has_partial_event());
  parser.Feed("1}\n", &events);
  EXPECT_TRUE(events.empty());  // no blank line yet
  parser.Feed("\n", &events);
  EXPECT_EQ(events, std::vector<std::string>{"{\"a\":1}"});
  EXPECT_FALSE(parser.has_partial_event());
  parser.Feed("event: ping\n\n", &events);  // no data: nothing dispatched
  EXPECT_EQ(events.size(), 1u);
}

// ---- StreamRecorder ---------------------------------------------------------------------------

TEST(SseClientRecorderTest, TimesContentChunksAndTakesUsage) {
  const Clock::time_point t0 = Clock::now();
  StreamRecorder recorder(t0, 0, 32);
  EXPECT_TRUE(recorder.OnEvent(
      R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})", t0 + 5ms));
  EXPECT_TRUE(recorder.OnEvent(R"({"choices":[{"index":0,"delta":{"reasoning_content":"Hm"}}]})",
                               t0 + 10ms));
  EXPECT_TRUE(recorder.OnEvent(R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})", t0 + 30ms));
  EXPECT_TRUE(recorder.OnEvent(R"({"choices":[{"index":0,"text":"!"}]})", t0 + 60ms));
  EXPECT_TRUE(recorder.OnEvent(R"({"choices":[{"index":0,"text":"","finish_reason":"length"}]})",
                               t0 + 70ms));
  EXPECT_TRUE(recorder.OnEvent(
      R"({"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":5}})", t0 + 71ms));
  EXPECT_TRUE(recorder.OnEvent("[DONE]", t0 + 72ms));
  RequestResult r = recorder.Finish({SseStreamEnd::Kind::kComplete, 200, ""}, t0 + 80ms);
  EXPECT_EQ(r.outcome, RequestOutcome::kSuccess) << r.error;
  EXPECT_NEAR(r.ttft_s, 0.010, 1e-9);
  ASSERT_EQ(r.itl_s.size(), 2u);
  EXPECT_NEAR(r.itl_s[0], 0.020, 1e-9);
  EXPECT_NEAR(r.itl_s[1], 0.030, 1e-9);
  EXPECT_NEAR(r.e2e_s, 0.080, 1e-9);
  EXPECT_EQ(r.content_chunks, 3);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.output_tokens, 5);
  EXPECT_EQ(r.prompt_tokens, 40);
}

TEST(SseClientRecorderTest, WithoutUsageChunksCountAsTokens) {
  const Clock::time_point t0 = Clock::now();
  StreamRecorder recorder(t0, 0, 32);
  recorder.OnEvent(R"({"choices":[{"text":"a"}]})", t0);
  recorder.OnEvent(R"({"choices":[{"text":"b"}]})", t0);
  recorder.OnEvent("[DONE]", t0);
  RequestResult r = recorder.Finish({SseStreamEnd::Kind::kComplete, 200, ""}, t0);
  EXPECT_EQ(r.outcome, RequestOutcome::kSuccess);
  EXPECT_EQ(r.output_tokens, 2);
  EXPECT_EQ(r.prompt_tokens, 32);
}

TEST(SseClientRecorderTest, FailuresAndDisconnects) {
  const Clock::time_point t0 = Clock::now();
  {  // No [DONE].
    StreamRecorder recorder(t0, 0, 1);
    recorder.OnEvent(R"({"choices":[{"text":"a"}]})", t0);
    RequestResult r = recorder.Finish({SseStreamEnd::Kind::kComplete, 200, ""}, t0);
    EXPECT_EQ(r.outcome, RequestOutcome::kFailed);
    EXPECT_NE(r.error.find("[DONE]"), std::string::npos);
  }
  {  // An error event, then [DONE] (vLLM's way of failing mid-stream).
    StreamRecorder recorder(t0, 0, 1);
    recorder.OnEvent(R"({"error":{"message":"engine died","code":500}})", t0);
    recorder.OnEvent("[DONE]", t0);
    RequestResult r = recorder.Finish({SseStreamEnd::Kind::kComplete, 200, ""}, t0);
    EXPECT_EQ(r.outcome, RequestOutcome::kFailed);
    EXPECT_EQ(r.error, "error event: engine died");
  }
  {  // A malformed chunk.
    StreamRecorder recorder(t0, 0, 1);
    recorder.OnEvent("{not json", t0);
    recorder.OnEvent("[DONE]", t0);
    EXPECT_EQ(recorder.Finish({SseStreamEnd::Kind::kComplete, 200, ""}, t0).outcome,
              RequestOutcome::kFailed);
  }
  {  // An HTTP error status: the OpenAI error message is quoted.
    StreamRecorder recorder(t0, 0, 1);
    RequestResult r = recorder.Finish(
        {SseStreamEnd::Kind::kHttpError, 400, R"({"error":{"message":"bad prompt"}})"}, t0);
    EXPECT_EQ(r.outcome, RequestOutcome::kFailed);
    EXPECT_EQ(r.http_status, 400);
    EXPECT_EQ(r.error, "HTTP 400: bad prompt");
  }
  {  // --disconnect-after 2: the second content chunk asks to disconnect.
    StreamRecorder recorder(t0, 2, 1);
    EXPECT_TRUE(recorder.OnEvent(R"({"choices":[{"text":"a"}]})", t0));
    EXPECT_FALSE(recorder.OnEvent(R"({"choices":[{"text":"b"}]})", t0));
    RequestResult r = recorder.Finish({SseStreamEnd::Kind::kStopped, 200, ""}, t0);
    EXPECT_EQ(r.outcome, RequestOutcome::kDisconnected);
    EXPECT_TRUE(r.error.empty());
    EXPECT_EQ(r.output_tokens, 2);
  }
}

// ---- SseConnection against an in-process HttpServer -------------------------------------------

class SseClientTest : public ::testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::warn); }

  void TearDown() override {
    JoinWriters();
    if (server_) server_->Shutdown(0ms);
  }

  void StartServer(HttpHandler handler, HttpServerOptions options = {}) {
    options.port = 0;
    auto server = HttpServer::Create(std::move(options), std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    server_->Start();
  }

  // Writes `pieces` as stream chunks from a thread of its own, pausing between them so that they
  // reach the client in separate reads; then ends the stream, or drops the writer without ending
  // it (the server then closes the connection mid-stream).
  void WriteSlowly(std::shared_ptr<ResponseWriter> writer, std::vector<std::string> pieces,
                   bool end = true) {
    std::lock_guard lock(mu_);
    writers_.emplace_back([writer = std::move(writer), pieces = std::move(pieces), end]() mutable {
      writer->StartStream(200, "text/event-stream");
      for (std::string& p : pieces) {
        if (!writer->Write(std::move(p))) return;
        std::this_thread::sleep_for(3ms);
      }
      if (end) writer->End();
    });
  }

  void JoinWriters() {
    std::vector<std::thread> writers;
    {
      std::lock_guard lock(mu_);
      writers.swap(writers_);
    }
    for (auto& t : writers) t.join();
  }

  std::shared_ptr<SseConnection> Connection() {
    return SseConnection::Create(
        ioc_.get_executor(), {boost::asio::ip::address_v4::loopback(), uint16_t(server_->port())},
        5000ms);
  }

  struct Streamed {
    std::vector<std::string> events;
    SseStreamEnd end;
    bool ended = false;
  };

  // One request on `connection`, run to its end. `stop_after`: events before asking to stop.
  Streamed Stream(const std::shared_ptr<SseConnection>& connection, const std::string& target,
                  size_t stop_after = SIZE_MAX) {
    Streamed out;
    SseRequest request;
    request.target = target;
    request.host = "test";
    request.body = "{}";
    connection->Stream(
        std::move(request),
        [&](std::string_view data) {
          out.events.emplace_back(data);
          return out.events.size() < stop_after;
        },
        [&](const SseStreamEnd& end) {
          out.end = end;
          out.ended = true;
        });
    ioc_.restart();
    ioc_.run();
    return out;
  }

  std::unique_ptr<HttpServer> server_;
  boost::asio::io_context ioc_;
  std::mutex mu_;
  std::vector<std::thread> writers_;
};

TEST_F(SseClientTest, EventsSplitAcrossChunksAndDone) {
  const std::string stream = TextEvent("Hello") + TextEvent(" world") + UsageEvent(3, 2) + kDone;
  std::vector<std::string> pieces;  // 7-byte pieces: events and "\n\n" torn apart
  for (size_t i = 0; i < stream.size(); i += 7) pieces.push_back(stream.substr(i, 7));
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    WriteSlowly(std::move(writer), pieces);
  });
  auto connection = Connection();
  Streamed s = Stream(connection, "/v1/completions");
  ASSERT_TRUE(s.ended);
  EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kComplete) << s.end.message;
  EXPECT_EQ(s.end.http_status, 200);
  ASSERT_EQ(s.events.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(s.events[1])["choices"][0]["text"], " world");
  EXPECT_EQ(s.events[3], "[DONE]");
  EXPECT_TRUE(connection->reusable());
}

TEST_F(SseClientTest, KeepAliveReusesTheConnection) {
  std::mutex mu;
  std::vector<std::string> remotes;
  StartServer([&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    {
      std::lock_guard lock(mu);
      remotes.push_back(request.remote);
    }
    writer->StartStream(200, "text/event-stream");
    writer->Write(TextEvent("x") + kDone);
    writer->End();
  });
  auto connection = Connection();
  for (int i = 0; i < 3; ++i) {
    Streamed s = Stream(connection, "/v1/completions");
    EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kComplete) << s.end.message;
    EXPECT_EQ(s.events.size(), 2u);
  }
  ASSERT_EQ(remotes.size(), 3u);
  EXPECT_EQ(remotes[0], remotes[1]);
  EXPECT_EQ(remotes[1], remotes[2]);
}

TEST_F(SseClientTest, RequestOnAConnectionTheServerClosedWhileIdleIsSentAgain) {
  std::atomic<int> requests{0};
  HttpServerOptions options;
  options.idle_timeout = 1s;
  StartServer(
      [&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
        ++requests;
        writer->StartStream(200, "text/event-stream");
        writer->Write(kDone);
        writer->End();
      },
      options);
  auto connection = Connection();
  EXPECT_EQ(Stream(connection, "/v1/completions").end.kind, SseStreamEnd::Kind::kComplete);
  ASSERT_TRUE(connection->reusable());
  std::this_thread::sleep_for(1500ms);  // the server closes the idle keep-alive connection
  ASSERT_EQ(server_->active_connections(), 0);
  Streamed s = Stream(connection, "/v1/completions");
  EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kComplete) << s.end.message;
  EXPECT_EQ(s.events, std::vector<std::string>{"[DONE]"});
  EXPECT_EQ(requests, 2);
}

TEST_F(SseClientTest, ErrorStatusCarriesTheBody) {
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->Send(429, "application/json", R"({"error":{"message":"slow down"}})");
  });
  auto connection = Connection();
  Streamed s = Stream(connection, "/v1/completions");
  ASSERT_TRUE(s.ended);
  EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kHttpError);
  EXPECT_EQ(s.end.http_status, 429);
  EXPECT_EQ(s.end.message, R"({"error":{"message":"slow down"}})");
  EXPECT_TRUE(s.events.empty());
  // The connection stays usable after an error answer.
  EXPECT_TRUE(connection->reusable());
  EXPECT_EQ(Stream(connection, "/again").end.http_status, 429);
}

TEST_F(SseClientTest, ServerClosingMidStreamIsATransportError) {
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    WriteSlowly(std::move(writer), {TextEvent("a"), TextEvent("b")}, /*end=*/false);
  });
  auto connection = Connection();
  Streamed s = Stream(connection, "/v1/completions");
  ASSERT_TRUE(s.ended);
  EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kTransportError);
  EXPECT_EQ(s.end.http_status, 200);
  EXPECT_NE(s.end.message.find("closed the connection mid-response"), std::string::npos)
      << s.end.message;
  EXPECT_LE(s.events.size(), 2u);
  EXPECT_FALSE(connection->reusable());
}

TEST_F(SseClientTest, NobodyListeningIsATransportError) {
  StartServer([](HttpRequest, std::shared_ptr<ResponseWriter> writer) { writer->End(); });
  auto connection = Connection();
  server_->Shutdown(0ms);
  Streamed s = Stream(connection, "/v1/completions");
  ASSERT_TRUE(s.ended);
  EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kTransportError);
  EXPECT_EQ(s.end.http_status, 0);
  EXPECT_NE(s.end.message.find("connect"), std::string::npos) << s.end.message;
}

TEST_F(SseClientTest, StoppingClosesTheConnectionAndTheServerSeesIt) {
  std::atomic<bool> server_saw_disconnect{false};
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->OnDisconnect([&] { server_saw_disconnect = true; });
    std::vector<std::string> pieces(200, TextEvent("t"));
    WriteSlowly(std::move(writer), std::move(pieces));
  });
  auto connection = Connection();
  Streamed s = Stream(connection, "/v1/completions", /*stop_after=*/2);
  ASSERT_TRUE(s.ended);
  EXPECT_EQ(s.end.kind, SseStreamEnd::Kind::kStopped);
  EXPECT_EQ(s.events.size(), 2u);
  EXPECT_FALSE(connection->reusable());
  for (int i = 0; i < 200 && !server_saw_disconnect; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(server_saw_disconnect);
  // The next request on the same object opens a fresh connection.
  Streamed again = Stream(connection, "/v1/completions", 1);
  EXPECT_EQ(again.end.kind, SseStreamEnd::Kind::kStopped);
}

// ---- Whole load runs --------------------------------------------------------------------------

TEST(SseClientLoadTest, PoissonArrivalsAreSeededExponentialGaps) {
  EXPECT_EQ(PoissonArrivals(3, INFINITY, 1), (std::vector<double>{0, 0, 0}));
  const std::vector<double> a = PoissonArrivals(4000, 100, 7);
  EXPECT_EQ(a, PoissonArrivals(4000, 100, 7));
  EXPECT_NE(a, PoissonArrivals(4000, 100, 8));
  EXPECT_EQ(a[0], 0);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_NEAR(a.back() / double(a.size() - 1), 0.01, 0.001);  // mean gap 1/rate
}

TEST(SseClientLoadTest, SyntheticBodies) {
  SyntheticRequestOptions o;
  o.model = "m";
  o.input_len = 5;
  o.output_len = 7;
  o.seed = 3;
  nlohmann::json body = nlohmann::json::parse(SyntheticRequestBody(o, 0));
  ASSERT_EQ(body["prompt"].size(), 5u);
  for (auto& id : body["prompt"]) {
    EXPECT_GE(id.get<int>(), kMinPromptTokenId);
    EXPECT_LT(id.get<int>(), kMaxPromptTokenId);
  }
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["max_tokens"], 7);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["temperature"], 0);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(SyntheticRequestBody(o, 0), SyntheticRequestBody(o, 0));
  EXPECT_NE(SyntheticRequestBody(o, 0), SyntheticRequestBody(o, 1));
  o.endpoint = EndpointOfPath("/v1/chat/completions");
  body = nlohmann::json::parse(SyntheticRequestBody(o, 0));
  EXPECT_FALSE(body.contains("prompt"));
  EXPECT_EQ(body["messages"][0]["role"], "user");
  const std::string content = body["messages"][0]["content"];
  EXPECT_EQ(std::count(content.begin(), content.end(), ' '), 4);  // five words
}

// A fake OpenAI server: each completion streams `output` one-token chunks, usage and [DONE].
class FakeOpenAiServer {
 public:
  explicit FakeOpenAiServer(int output) : output_(output) {
    HttpServerOptions options;
    options.port = 0;
    auto server =
        HttpServer::Create(options, [this](HttpRequest r, std::shared_ptr<ResponseWriter> w) {
          Handle(std::move(r), std::move(w));
        });
    EXPECT_TRUE(server.ok());
    server_ = std::move(server).value();
    server_->Start();
  }
  ~FakeOpenAiServer() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    server_->Shutdown(0ms);
  }

  int port() const { return server_->port(); }
  int max_in_flight() const { return max_in_flight_; }
  int requests() const { return requests_; }
  int aborted() const { return aborted_; }
  std::vector<size_t> prompt_lengths() {
    std::lock_guard lock(mu_);
    return prompt_lengths_;
  }

 private:
  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    if (request.path == "/v1/models") {
      writer->Send(200, "application/json", R"({"object":"list","data":[{"id":"fake"}]})");
      return;
    }
    auto body = nlohmann::json::parse(request.body);
    EXPECT_EQ(body["model"], "fake");
    ++requests_;
    const int now = ++in_flight_;
    for (int seen = max_in_flight_;
         now > seen && !max_in_flight_.compare_exchange_weak(seen, now);) {
    }
    std::lock_guard lock(mu_);
    prompt_lengths_.push_back(body["prompt"].size());
    threads_.emplace_back([this, writer = std::move(writer), prompt = int(body["prompt"].size())] {
      writer->StartStream(200, "text/event-stream");
      bool gone = false;
      for (int i = 0; i < output_ && !gone; ++i) {
        std::this_thread::sleep_for(2ms);
        gone = !writer->Write(TextEvent("t"));
      }
      if (gone) {
        ++aborted_;
      } else {
        writer->Write(UsageEvent(prompt, output_) + kDone);
      }
      --in_flight_;  // before End: the client may send its next request as soon as it ends
      writer->End();
    });
  }

  int output_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0}, requests_{0}, aborted_{0};
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<size_t> prompt_lengths_;
};

LoadOptions FakeLoad(int port) {
  auto server = ResolveTargetServer(fmt::format("http://127.0.0.1:{}", port));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  LoadOptions o;
  o.server = *server;
  auto model = FetchFirstModelId(o.server, "", 5s);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  o.requests.model = *model;
  o.requests.input_len = 12;
  o.requests.output_len = 5;
  o.num_prompts = 24;
  o.concurrency = 4;
  o.timeout = 5000ms;
  return o;
}

TEST(SseClientLoadTest, RunLoadKeepsConcurrencyAndMeasuresEveryRequest) {
  spdlog::set_level(spdlog::level::warn);
  FakeOpenAiServer fake(/*output=*/5);
  LoadOptions o = FakeLoad(fake.port());
  auto run = RunLoad(o);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->results.size(), 24u);
  for (const RequestResult& r : run->results) {
    EXPECT_EQ(r.outcome, RequestOutcome::kSuccess) << r.index << ": " << r.error;
    EXPECT_EQ(r.output_tokens, 5);
    EXPECT_EQ(r.content_chunks, 5);
    EXPECT_EQ(r.prompt_tokens, 12);
    EXPECT_EQ(r.itl_s.size(), 4u);
    EXPECT_GT(r.ttft_s, 0);
    EXPECT_GE(r.e2e_s, r.ttft_s);
  }
  EXPECT_EQ(fake.requests(), 24);
  EXPECT_EQ(fake.max_in_flight(), 4);
  for (size_t n : fake.prompt_lengths()) EXPECT_EQ(n, 12u);
  BenchmarkSummary s = Summarize(run->results, run->duration_s);
  EXPECT_EQ(s.completed, 24);
  EXPECT_EQ(s.total_output_tokens, 120);
  EXPECT_GT(s.request_throughput, 0);
}

TEST(SseClientLoadTest, RequestRateSpacesArrivals) {
  spdlog::set_level(spdlog::level::warn);
  FakeOpenAiServer fake(/*output=*/1);
  LoadOptions o = FakeLoad(fake.port());
  o.num_prompts = 10;
  o.request_rate = 50;  // about 0.2 s in all
  auto run = RunLoad(o);
  ASSERT_TRUE(run.ok());
  const std::vector<double> arrivals = PoissonArrivals(10, 50, o.requests.seed);
  for (const RequestResult& r : run->results) {
    EXPECT_EQ(r.outcome, RequestOutcome::kSuccess) << r.error;
    EXPECT_GE(r.start_s, arrivals[size_t(r.index)] - 1e-3);
  }
  EXPECT_GE(run->duration_s, arrivals.back());
}

TEST(SseClientLoadTest, DisconnectAfterCountsAsDisconnectedNotFailed) {
  spdlog::set_level(spdlog::level::warn);
  FakeOpenAiServer fake(/*output=*/200);
  LoadOptions o = FakeLoad(fake.port());
  o.disconnect_after = 2;
  auto run = RunLoad(o);
  ASSERT_TRUE(run.ok());
  BenchmarkSummary s = Summarize(run->results, run->duration_s);
  EXPECT_EQ(s.disconnected, 24);
  EXPECT_EQ(s.failed, 0);
  for (const RequestResult& r : run->results) EXPECT_EQ(r.content_chunks, 2);
}

}  // namespace
}  // namespace atom::loadgen
