// Internal to the HTTP layer: one client connection (HttpSession) and its ResponseWriter.
// Requests are read in http_session.cc; responses are written in http_session_writer.cc.
//
// A session reads requests one at a time, calls the handler, writes the response the handler
// gives through its writer, then reads the next request (keep-alive) or closes. All socket
// operations run on the session's strand. The handler's writer may be used from any thread: the
// state it touches (queued bytes, response progress, the disconnect callback) is guarded by mu_,
// and the actual writes are posted to the strand.
//
// While a response is pending a read stays pending on the socket, so a client that goes away
// (EOF or reset) is noticed at once and OnDisconnect runs; bytes that arrive meanwhile
// (pipelined requests) are kept for the next parse.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/asio.h"
#include "server/http_response.h"
#include "server/http_server.h"
#include "server/http_server_state.h"

namespace atom {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using tcp = boost::asio::ip::tcp;

  // `socket` must be bound to a strand of state->ioc (its executor is the session's strand).
  HttpSession(std::shared_ptr<HttpServer::State> state, tcp::socket socket);
  ~HttpSession();

  // Each of these posts itself to the strand; callable from any thread.
  void Start();          // serve requests
  void Reject();         // answer 503 (too many connections) and close
  void BeginShutdown();  // close if idle; otherwise close after the current response
  void ForceClose();     // close now; a pending response counts as a disconnect

  // The ResponseWriter of request number `seq` (see SessionWriter in http_session.cc).
  // Calls for a request other than the current one are ignored.
  void Send(uint64_t seq, int status, std::string content_type, std::string body,
            http::HeaderList headers);
  void StartStream(uint64_t seq, int status, std::string content_type, http::HeaderList headers);
  bool Write(uint64_t seq, std::string chunk);
  void End(uint64_t seq);
  void OnDisconnect(uint64_t seq, std::function<void()> callback);
  bool disconnected() const;
  void Abandon(uint64_t seq);  // the writer was dropped

 private:
  enum class Phase {
    kIdle,           // waiting for the first byte of a request (idle timeout)
    kReading,        // reading a request (read timeout)
    kResponding,     // the handler has the request; writing its response
    kAfterResponse,  // response done, keep-alive: waiting for the monitor read to return
    kDraining,       // response done, closing: send side shut, discarding input briefly
    kClosed,
  };
  enum class Response { kNone, kStreaming, kEnded };

  // Strand-only.
  void ReadNext();
  void OnReadable(boost::system::error_code ec);
  void ReadRequest();
  void OnHeader(boost::system::error_code ec);
  void OnRequest(boost::system::error_code ec);
  void Dispatch();
  std::shared_ptr<ResponseWriter> MakeWriter(uint64_t seq);  // http_session_writer.cc
  void StartMonitor();
  void OnMonitor(boost::system::error_code ec, size_t n);
  void DoWrite();
  void OnWrite(boost::system::error_code ec, size_t n);
  void FinishResponse();
  // The handler has ended the response and every byte of it is written or being written.
  bool ResponseFullyQueued() const;
  void SendError(int status, std::string_view message);
  void GracefulClose();
  void StartDrain();
  void Close(std::string_view reason);
  void ArmTimer(std::chrono::steady_clock::duration d);
  void DisarmTimer();
  void OnTimeout();
  void LogAccess(std::string_view note);

  // Queues bytes and schedules a write. REQUIRES: mu_ held.
  void EnqueueLocked(std::string_view bytes);

  const std::shared_ptr<HttpServer::State> state_;
  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  uint64_t id_ = 0;

  // Strand-only.
  Phase phase_ = Phase::kIdle;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  uint64_t timer_gen_ = 0;
  bool timed_out_ = false;
  bool read_pending_ = false;
  bool peer_closed_ = false;  // EOF seen while the response's last write was in flight
  bool counted_ = false;      // counted in state_->active
  std::string writing_;       // bytes of the write in flight
  std::string remote_;
  std::string method_ = "-";
  std::string target_ = "-";
  std::chrono::steady_clock::time_point start_;
  size_t drained_ = 0;
  uint64_t finished_seq_ = 0;

  mutable std::mutex mu_;
  // Guarded by mu_.
  uint64_t seq_ = 0;  // the current request's number (1-based)
  Response response_ = Response::kNone;
  bool disconnected_ = false;
  bool write_scheduled_ = false;  // a DoWrite is posted or a write is in flight
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool head_ = false;  // HEAD request: no body bytes
  int version_ = 11;
  int status_ = 0;
  size_t bytes_out_ = 0;
  std::string out_;  // bytes queued for the next write
  std::function<void()> on_disconnect_;
};

}  // namespace atom
