// HttpServer over real loopback sockets: protocol, limits, streaming, disconnects, shutdown and
// robustness against hostile input.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "http_test_client.h"

namespace atom {
namespace {

using namespace std::chrono_literals;
using testing::HttpTestClient;
using Clock = std::chrono::steady_clock;

// Answers "<method> <path> <body>" and echoes the X-Test header as X-Echo.
void Echo(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (auto it = request.headers.find("x-test"); it != request.headers.end()) {
    headers.emplace_back("X-Echo", it->second);
  }
  writer->Send(200, "text/plain", request.method + " " + request.path + " " + request.body,
               std::move(headers));
}

std::string Get(std::string_view target, std::string_view extra = "") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: t\r\n{}\r\n", target, extra);
}

std::string Post(std::string_view target, std::string_view body) {
  return fmt::format("POST {} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{}", target,
                     body.size(), body);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::warn); }

  void StartServer(HttpHandler handler, HttpServerOptions options = {}) {
    options.port = 0;
    auto server = HttpServer::Create(std::move(options), std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    server_->Start();
    port_ = server_->port();
  }

  HttpServerOptions ShortTimeouts() {
    HttpServerOptions options;
    options.read_timeout = 1s;
    return options;
  }

  // A fresh connection still gets a correct answer.
  void ExpectServes() {
    HttpTestClient client(port_);
    ASSERT_TRUE(client.Send(Get("/echo?q=1")));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET /echo ");
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, GetAndPostRoundTrip) {
  spdlog::set_level(spdlog::level::info);  // shows the access-log line once
  StartServer(Echo);
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send(Get("/v1/models?x=1", "X-Test: hello\r\n")));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /v1/models ");
  EXPECT_EQ(r->headers["x-echo"], "hello");
  EXPECT_EQ(r->headers["content-type"], "text/plain");
  ASSERT_TRUE(client.Send(Post("/v1/chat/completions", "{\"a\":1}")));
  r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "POST /v1/chat/completions {\"a\":1}");
}

TEST_F(HttpServerTest, RequestFieldsReachTheHandler) {
  std::promise<HttpRequest> got;
  StartServer([&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    got.set_value(request);
    writer->Send(204, "", "");
  });
  HttpTestClient client(port_);
  ASSERT_TRUE(
      client.Send("PUT /a/b?c=d HTTP/1.1\r\nHost: t\r\nX-Multi: 1\r\nx-multi: 2\r\n"
                  "Content-Length: 2\r\n\r\nhi"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 204);
  HttpRequest request = got.get_future().get();
  EXPECT_EQ(request.method, "PUT");
  EXPECT_EQ(request.target, "/a/b?c=d");
  EXPECT_EQ(request.path, "/a/b");
  EXPECT_EQ(request.body, "hi");
  EXPECT_EQ(request.headers["x-multi"], "1, 2");
  EXPECT_EQ(request.headers["host"], "t");
  EXPECT_TRUE(request.remote.starts_with("127.0.0.1:")) << request.remote;
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer(Echo);
  HttpTestClient client(port_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.Send(Post("/n", std::to_string(i))));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->body, "POST /n " + std::to_string(i));
  }
  // Pipelined: three requests in one write, three answers in order.
  ASSERT_TRUE(client.Send(Post("/p", "a") + Post("/p", "b") + Post("/p", "c")));
  for (const char* b : {"a", "b", "c"}) {
    auto r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, std::string("POST /p ") + b);
  }
}

TEST_F(HttpServerTest, Http10ClosesAfterTheResponse) {
  StartServer(Echo);
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->version, "HTTP/1.0");
  EXPECT_EQ(r->body, "GET /old ");
  EXPECT_TRUE(client.WaitClosed(2000));
}

TEST_F(HttpServerTest, ChunkedRequestBody) {
  StartServer(Echo);
  HttpTestClient client(port_);
  ASSERT_TRUE(
      client.Send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n"));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.Send("6\r\n world\r\n0\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "POST /c hello world");
}

TEST_F(HttpServerTest, ExpectContinue) {
  StartServer(Echo);
  HttpTestClient client(port_);
  ASSERT_TRUE(
      client.Send("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  std::string line;
  ASSERT_TRUE(client.ReadLine(&line));
  EXPECT_EQ(line, "HTTP/1.1 100 Continue");
  ASSERT_TRUE(client.ReadLine(&line));
  ASSERT_TRUE(client.Send("abc"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "POST /e abc");
}

TEST_F(HttpServerTest, OversizedBodyIs413BeforeTheBodyIsRead) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  StartServer(Echo, options);
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
  EXPECT_TRUE(client.WaitClosed(3000));
  // A chunked body that grows past the limit.
  HttpTestClient chunked(port_);
  ASSERT_TRUE(chunked.Send("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           fmt::format("7d0\r\n{}\r\n", std::string(2000, 'x'))));
  r = chunked.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  ExpectServes();
}

TEST_F(HttpServerTest, OversizedHeadersAre431) {
  StartServer(Echo);
  HttpTestClient client(port_);
  // A 1 MB header line (the default limit is 64 KiB).
  client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Huge: " + std::string(1 << 20, 'h') + "\r\n\r\n");
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  ExpectServes();
}

TEST_F(HttpServerTest, MalformedRequestIs400AndCloses) {
  StartServer(Echo);
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->headers["connection"], "close");
  EXPECT_TRUE(client.WaitClosed(3000));
  ExpectServes();
}

TEST_F(HttpServerTest, HalfSentRequestIs408AfterTheReadTimeout) {
  StartServer(Echo, ShortTimeouts());
  HttpTestClient client(port_);
  auto start = Clock::now();
  ASSERT_TRUE(client.Send("POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 3s);
  ExpectServes();
}

TEST_F(HttpServerTest, StreamArrivesChunkByChunkInOrder) {
  std::vector<std::thread> producers;
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->StartStream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
    producers.emplace_back([writer] {
      for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(writer->Write(fmt::format("data: {}\n\n", i)));
        std::this_thread::sleep_for(60ms);
      }
      writer->End();
    });
  });
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send(Get("/stream")));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "text/event-stream");
  EXPECT_EQ(r->headers["cache-control"], "no-cache");
  ASSERT_EQ(r->chunks.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r->chunks[i], fmt::format("data: {}\n\n", i));
  // Each chunk arrived when it was written, not all at the end.
  EXPECT_GE(r->chunk_times[4] - r->chunk_times[0], 200ms);
  // The connection stays usable after a stream.
  ASSERT_TRUE(client.Send(Get("/stream")));
  EXPECT_TRUE(client.Read().has_value());
  for (auto& t : producers) t.join();
}

TEST_F(HttpServerTest, DisconnectMidStreamCallsOnDisconnectAndWriteFails) {
  std::promise<void> disconnected;
  std::shared_ptr<ResponseWriter> kept;
  std::mutex mu;
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->OnDisconnect([&] { disconnected.set_value(); });
    writer->StartStream(200, "text/event-stream");
    writer->Write("data: first\n\n");
    std::lock_guard lock(mu);
    kept = writer;
  });
  {
    HttpTestClient client(port_);
    ASSERT_TRUE(client.Send(Get("/stream")));
    auto r = client.ReadHeadAndChunks(1);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->chunks.size(), 1u);
  }  // the client goes away while the stream is open
  ASSERT_EQ(disconnected.get_future().wait_for(2s), std::future_status::ready);
  std::lock_guard lock(mu);
  EXPECT_TRUE(kept->disconnected());
  EXPECT_FALSE(kept->Write("data: late\n\n"));
  kept->End();  // ignored, no crash
  // Registering after the fact runs the callback at once.
  std::promise<void> late;
  kept->OnDisconnect([&] { late.set_value(); });
  EXPECT_EQ(late.get_future().wait_for(2s), std::future_status::ready);
}

TEST_F(HttpServerTest, HandlerAnswersLaterFromAnotherThread) {
  std::vector<std::thread> workers;
  std::mutex mu;
  StartServer([&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    std::lock_guard lock(mu);
    workers.emplace_back([writer, body = request.body] {
      std::this_thread::sleep_for(100ms);
      writer->Send(201, "application/json", "{\"late\":" + body + "}");
    });
  });
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send(Post("/later", "7")));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"late\":7}");
  std::lock_guard lock(mu);
  for (auto& t : workers) t.join();
}

// The usual shape of a generation handler: the disconnect callback owns the writer (through the
// job it aborts), so finishing the response releases the writer's last reference inside the
// session. That must not deadlock, on the response's end nor on a disconnect.
TEST_F(HttpServerTest, DisconnectCallbackMayOwnItsWriter) {
  std::vector<std::thread> workers;
  std::mutex mu;
  StartServer([&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    if (request.path == "/echo") return Echo(std::move(request), std::move(writer));
    writer->OnDisconnect([writer] {});
    writer->StartStream(200, "text/plain");
    if (request.path == "/hang") return;  // ends when the client goes away
    std::lock_guard lock(mu);
    workers.emplace_back([writer = std::move(writer)]() mutable {
      writer->Write("done");
      writer->End();
      writer.reset();
    });
  });
  for (int i = 0; i < 5; ++i) {
    HttpTestClient client(port_);
    ASSERT_TRUE(client.Send(Get("/finish")));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "done");
    HttpTestClient leaving(port_);
    ASSERT_TRUE(leaving.Send(Get("/hang")));
  }
  ExpectServes();
  std::lock_guard lock(mu);
  for (auto& t : workers) t.join();
}

TEST_F(HttpServerTest, DroppedWriterAnswers500AndThrowingHandlerToo) {
  StartServer([](HttpRequest request, std::shared_ptr<ResponseWriter>) {
    if (request.path == "/throw") throw std::runtime_error("boom");
  });
  for (const char* path : {"/drop", "/throw"}) {
    HttpTestClient client(port_);
    ASSERT_TRUE(client.Send(Get(path)));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value()) << path;
    EXPECT_EQ(r->status, 500) << path;
  }
}

TEST_F(HttpServerTest, ManyConcurrentConnections) {
  StartServer(Echo);
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<HttpTestClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpTestClient>(port_));
    ASSERT_TRUE(clients.back()->connected()) << i;
    ASSERT_TRUE(clients.back()->Send(Post("/c", std::to_string(i))));
  }
  for (int i = 0; i < kClients; ++i) {
    auto r = clients[i]->Read();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->body, "POST /c " + std::to_string(i));
  }
  EXPECT_EQ(server_->active_connections(), kClients);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitGet503) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(Echo, options);
  HttpTestClient a(port_), b(port_);
  ASSERT_TRUE(a.Send(Get("/a")));
  ASSERT_TRUE(a.Read().has_value());
  ASSERT_TRUE(b.Send(Get("/b")));
  ASSERT_TRUE(b.Read().has_value());
  HttpTestClient c(port_);
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->headers["retry-after"], "1");
}

TEST_F(HttpServerTest, SlowReaderIsCutOffAtThePendingWriteCap) {
  HttpServerOptions options;
  options.max_pending_write_bytes = 1 << 20;
  std::promise<std::shared_ptr<ResponseWriter>> got;
  StartServer(
      [&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
        if (request.path != "/flood") return Echo(std::move(request), std::move(writer));
        writer->StartStream(200, "application/octet-stream");
        got.set_value(writer);
      },
      options);
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send(Get("/flood")));  // and never reads
  auto writer = got.get_future().get();
  std::string chunk(256 << 10, 'z');
  int writes = 0;
  while (writer->Write(chunk) && writes < 2000) ++writes;  // at most 500 MB
  EXPECT_LT(writes, 2000);
  EXPECT_TRUE(writer->disconnected());
  ExpectServes();
}

TEST_F(HttpServerTest, ShutdownLetsAStreamFinishWithinTheGrace) {
  std::vector<std::thread> producers;
  StartServer([&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->StartStream(200, "text/event-stream");
    producers.emplace_back([writer] {
      for (int i = 0; i < 4; ++i) {
        writer->Write("data: x\n\n");
        std::this_thread::sleep_for(50ms);
      }
      writer->End();
    });
  });
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send(Get("/stream")));
  auto first = std::async(std::launch::async, [&] { return client.Read(); });
  std::this_thread::sleep_for(50ms);
  auto start = Clock::now();
  server_->Shutdown(3000ms);
  EXPECT_LT(Clock::now() - start, 2s);
  auto r = first.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->chunks.size(), 4u);
  EXPECT_TRUE(client.WaitClosed(1000));  // closed after the response, not kept alive
  for (auto& t : producers) t.join();
  server_.reset();
  HttpTestClient refused(port_);
  EXPECT_FALSE(refused.connected() && refused.Send(Get("/x")) && refused.Read().has_value());
}

TEST_F(HttpServerTest, ShutdownCutsAStreamAfterTheGrace) {
  std::promise<void> disconnected;
  std::shared_ptr<ResponseWriter> kept;
  StartServer([&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    if (request.path != "/stream") return Echo(std::move(request), std::move(writer));
    writer->OnDisconnect([&] { disconnected.set_value(); });
    writer->StartStream(200, "text/event-stream");
    writer->Write("data: 1\n\n");
    kept = writer;  // never ends
  });
  HttpTestClient idle(port_);  // an idle keep-alive connection closes at once
  ASSERT_TRUE(idle.Send(Get("/echo")));
  ASSERT_TRUE(idle.Read().has_value());
  HttpTestClient client(port_);
  ASSERT_TRUE(client.Send(Get("/stream")));
  ASSERT_TRUE(client.ReadHeadAndChunks(1).has_value());
  auto start = Clock::now();
  server_->Shutdown(300ms);
  auto took = Clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(disconnected.get_future().wait_for(0s), std::future_status::ready);
  EXPECT_TRUE(client.WaitClosed(1000));
  EXPECT_TRUE(idle.WaitClosed(1000));
  EXPECT_FALSE(kept->Write("data: 2\n\n"));
  server_.reset();  // the writer outlives the server
  EXPECT_FALSE(kept->Write("data: 3\n\n"));
  kept.reset();
}

TEST_F(HttpServerTest, SurvivesHostileInput) {
  StartServer(Echo, ShortTimeouts());
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {  // random bytes
    std::string junk(1 + rng() % 4096, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    HttpTestClient client(port_);
    client.Send(junk);
    client.WaitClosed(200);
  }
  ExpectServes();
  {  // invalid UTF-8 in a header value is passed through, not rejected
    HttpTestClient client(port_);
    ASSERT_TRUE(client.Send(Get("/echo", "X-Test: \xff\xfe\xc3\x28\r\n")));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    // ... and invalid UTF-8 / control bytes in the request line are a 400.
    HttpTestClient bad(port_);
    ASSERT_TRUE(bad.Send("GET /\xff\x01 HTTP/1.1\r\n\r\n"));
    r = bad.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400);
  }
  {  // a valid request followed by pipelined garbage: the first is answered, then 400
    HttpTestClient client(port_);
    ASSERT_TRUE(client.Send(Get("/echo") + "\x16\x03\x01 garbage\r\n\r\n"));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400);
  }
  {  // half-sent requests held open, and a client that resets mid-request
    HttpTestClient held1(port_), held2(port_), reset(port_);
    held1.Send("GET /echo HTTP/1.1\r\nHo");
    held2.Send("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    reset.Send("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    reset.Reset();
    ExpectServes();  // served while those are pending
    EXPECT_TRUE(held1.WaitClosed(3000));
  }
  ExpectServes();
}

TEST_F(HttpServerTest, CreateNamesTheAddressOnFailure) {
  StartServer(Echo);
  HttpServerOptions options;
  options.port = port_;  // taken
  auto second = HttpServer::Create(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(fmt::format("127.0.0.1:{}", port_)), std::string::npos)
      << second.status().ToString();
  options.host = "no-such-host.invalid";
  options.port = 0;
  EXPECT_FALSE(HttpServer::Create(options, Echo).ok());
}

}  // namespace
}  // namespace atom
