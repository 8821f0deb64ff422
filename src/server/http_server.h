// HttpServer: an asynchronous HTTP/1.1 server (Boost.Beast + Asio) for the OpenAI endpoints.
//
// A small fixed pool of I/O threads serves every connection; there is no thread per connection
// and nothing in this layer blocks on a socket. The server parses requests (keep-alive, HTTP/1.0
// and 1.1, chunked request bodies, pipelining), enforces limits (body -> 413, header -> 431,
// malformed -> 400, slow request -> 408, too many connections -> 503) and hands each complete
// request to one HttpHandler together with a ResponseWriter. The handler answers at once or later,
// from any thread, as a whole body or as a chunked stream (for SSE). One access-log line per
// request goes through ATOM_LOG_INFO.
//
// Nothing a client sends can stop the process: protocol errors and exceptions from Asio/Beast are
// handled per connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace atom {

// One complete HTTP request as received.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path + query, e.g. "/v1/models?x=1"
  std::string path;    // target without the query (and without scheme://authority)
  std::map<std::string, std::string> headers;  // keys lower-case; repeated fields joined by ", "
  std::string body;    // the decoded body (chunked transfer encoding already removed)
  std::string remote;  // "127.0.0.1:54321" or "[::1]:54321"
  int version = 11;    // 10 for HTTP/1.0, 11 for HTTP/1.1
};

// How a handler answers one request.
//
// Thread-safety: every method may be called from any thread, at any time, also after the handler
// returned (typically from the engine loop). Calls are serialised internally and never block on
// the socket: data is buffered and written by an I/O thread.
//
// Protocol: exactly one of Send, or StartStream followed by any number of Write and one End.
// Calls out of that order are ignored. If the last reference is dropped before the response is
// complete, the server answers 500 (nothing sent yet) or closes the connection (a stream was
// started), so a forgotten writer never leaves a client hanging.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // A whole response: status, Content-Type, body and extra headers. Content-Length and
  // Connection are set by the server (extra headers of those names are ignored).
  virtual void Send(int status, std::string content_type, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) = 0;

  // Starts a streamed response. On HTTP/1.1 the body uses chunked transfer encoding; on
  // HTTP/1.0 it is written raw and the connection closes after End.
  virtual void StartStream(int status, std::string content_type,
                           std::vector<std::pair<std::string, std::string>> headers = {}) = 0;

  // Queues one chunk of a stream (empty chunks are skipped). Never blocks: each chunk is sent
  // promptly (TCP_NODELAY). Returns false once the client is gone, and also when the client
  // reads so slowly that more than the per-connection cap (8 MiB) is waiting: the connection is
  // then closed and treated as disconnected.
  virtual bool Write(std::string chunk) = 0;

  // Ends the stream.
  virtual void End() = 0;

  // Registers the callback run once, on an I/O thread, when the client disconnects before the
  // response was ended (Send or End called), or at once (posted to an I/O thread) if it already
  // has. Used to abort the request. Registering again replaces the callback. The callback is
  // dropped without being called once the response is complete, or when the server has stopped.
  virtual void OnDisconnect(std::function<void()> callback) = 0;

  // True once the client is known to be gone (EOF or reset on the socket, a failed write, the
  // write buffer cap exceeded, or the server closed the connection).
  virtual bool disconnected() const = 0;
};

// Called on an I/O thread for every complete request. It must not block (no waiting for the
// engine, no file or network I/O of note): hand the work off and answer through the writer.
// Exceptions it throws are caught and answered with 500 when nothing was sent yet.
using HttpHandler =
    std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // a name or address; "0.0.0.0" / "::" for all interfaces
  int port = 8000;                 // 0 = any free port (tests); see HttpServer::port()
  int io_threads = 2;
  size_t max_body_bytes = 16 << 20;          // larger bodies -> 413, before the body is read
  size_t max_header_bytes = 64 << 10;        // request line + headers beyond -> 431
  std::chrono::seconds read_timeout{30};     // a request not fully received in time -> 408, close
  std::chrono::seconds idle_timeout{75};     // keep-alive idle, and a stalled write, -> close
  int max_connections = 4096;                // beyond: 503 + close
  size_t max_pending_write_bytes = 8 << 20;  // per connection; beyond: treated as disconnected
};

class HttpServer {
 public:
  // Binds and listens (but serves nothing until Start). The error names host:port.
  static StatusOr<std::unique_ptr<HttpServer>> Create(HttpServerOptions options,
                                                      HttpHandler handler);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Shuts down with no grace if Shutdown was not called. REQUIRES: not called on an I/O thread.
  ~HttpServer();

  // The bound port (the chosen one when options.port was 0).
  int port() const;

  // Starts the I/O threads. REQUIRES: called at most once.
  void Start();

  // Graceful stop: stops accepting, closes idle keep-alive connections, lets in-flight requests
  // and responses finish for up to `grace` (their connections close after the response), then
  // closes the rest (their OnDisconnect callbacks run) and joins the I/O threads. Afterwards
  // every Write returns false. Idempotent. REQUIRES: not called on an I/O thread (e.g. from a
  // handler); call it from the thread that owns the server.
  void Shutdown(std::chrono::milliseconds grace);

  // Connections currently open (for tests and metrics).
  int active_connections() const;

  struct State;  // internal: io_context, acceptor, sessions (http_server_state.h)

 private:
  explicit HttpServer(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace atom
