// SseConnection: one keep-alive HTTP/1.1 client connection that sends requests and reads their
// server-sent-event answers incrementally, without blocking (Boost.Beast on an Asio executor).
//
// Many connections share one executor; nothing here starts threads. The connection connects on
// first use (and again after it was closed), sends one request at a time and hands each event's
// data to the caller as soon as the bytes that complete it have been read.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // before Asio: Boost 1.74 needs it under C++20 (see server/asio.h)
#include <vector>

// clang-format off
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
// clang-format on

#include "loadgen/sse_parser.h"

namespace atom::loadgen {

struct SseRequest {
  std::string method = "POST";
  std::string target;  // "/v1/completions"
  std::string host;    // the Host header
  std::string body;    // sent as application/json
  // Extra header fields (Authorization).
  std::vector<std::pair<std::string, std::string>> headers;
};

// How one request's response ended.
struct SseStreamEnd {
  enum class Kind {
    kComplete,        // a 200 response was read to its end
    kHttpError,       // a status other than 200; its whole body is in `message`
    kTransportError,  // connect, write or read failed, timed out, or the server closed mid-way
    kStopped,         // the event handler asked to stop; the connection was closed
  };
  Kind kind = Kind::kComplete;
  int http_status = 0;  // 0 when no response header arrived
  std::string message;  // the error body (kHttpError) or what went wrong (kTransportError)
};

class SseConnection : public std::enable_shared_from_this<SseConnection> {
 public:
  // Called with the data of each event of a 200 response, in order. Returning false closes the
  // connection at once (a client going away mid-stream); the stream then ends as kStopped.
  using EventHandler = std::function<bool(std::string_view data)>;
  // Called once per request, last. The connection may be given the next request from here.
  using EndHandler = std::function<void(const SseStreamEnd& end)>;

  // `timeout` bounds connecting and each wait for bytes (the server going silent).
  static std::shared_ptr<SseConnection> Create(boost::asio::any_io_executor executor,
                                               boost::asio::ip::tcp::endpoint endpoint,
                                               std::chrono::milliseconds timeout);

  // Sends `request` and streams its response. Handlers run on the executor.
  // REQUIRES: called on the executor (or before it runs), and no request is in progress.
  void Stream(SseRequest request, EventHandler on_event, EndHandler on_end);

  // Whether the next request will reuse the open connection (the last response allowed
  // keep-alive and was read to its end).
  bool reusable() const { return open_ && keep_alive_; }

  // Closes the connection (no handler runs). REQUIRES: no request is in progress.
  void Close();

 private:
  SseConnection(boost::asio::any_io_executor executor, boost::asio::ip::tcp::endpoint endpoint,
                std::chrono::milliseconds timeout);

  void Connect();
  void Send();
  void Read();
  void OnRead(boost::system::error_code ec);
  void OnTransportError(boost::system::error_code ec, std::string_view step);
  void Finish(SseStreamEnd end);

  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::optional<boost::beast::tcp_stream> stream_;  // a fresh one per TCP connection
  bool open_ = false;
  bool keep_alive_ = false;

  // The request in progress.
  boost::beast::http::request<boost::beast::http::string_body> request_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  boost::beast::flat_buffer buffer_;
  SseParser sse_;
  std::vector<std::string> events_;
  EventHandler on_event_;
  EndHandler on_end_;
  bool reused_ = false;   // sent on a connection that had answered before
  bool retried_ = false;  // already resent once on a fresh connection
};

}  // namespace atom::loadgen
