#include "loadgen/sse_client.h"

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>

namespace atom::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// A reused keep-alive connection the server had already closed fails like this before any byte
// of the response; such a request is sent again on a fresh connection.
bool IsStaleConnection(error_code ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

}  // namespace

std::shared_ptr<SseConnection> SseConnection::Create(asio::any_io_executor executor,
                                                     asio::ip::tcp::endpoint endpoint,
                                                     std::chrono::milliseconds timeout) {
  return std::shared_ptr<SseConnection>(new SseConnection(std::move(executor), endpoint, timeout));
}

SseConnection::SseConnection(asio::any_io_executor executor, asio::ip::tcp::endpoint endpoint,
                             std::chrono::milliseconds timeout)
    : executor_(std::move(executor)), endpoint_(endpoint), timeout_(timeout) {}

void SseConnection::Stream(SseRequest request, EventHandler on_event, EndHandler on_end) {
  on_event_ = std::move(on_event);
  on_end_ = std::move(on_end);
  request_ = {};
  request_.method_string(request.method);
  request_.target(request.target);
  request_.version(11);
  request_.set(http::field::host, request.host);
  request_.set(http::field::user_agent, "atom-bench");
  request_.set(http::field::accept, "text/event-stream");
  if (!request.body.empty()) request_.set(http::field::content_type, "application/json");
  for (auto& [name, value] : request.headers) request_.set(name, value);
  request_.body() = std::move(request.body);
  request_.keep_alive(true);
  request_.prepare_payload();
  retried_ = false;
  reused_ = reusable();
  if (reused_) {
    Send();
  } else {
    Close();
    Connect();
  }
}

void SseConnection::Close() {
  if (stream_) {
    error_code ignored;
    stream_->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_->close();
  }
  open_ = false;
  keep_alive_ = false;
}

void SseConnection::Connect() {
  stream_.emplace(executor_);
  stream_->expires_after(timeout_);
  stream_->async_connect(endpoint_, [self = shared_from_this()](error_code ec) {
    if (ec) return self->OnTransportError(ec, "connect");
    self->open_ = true;
    error_code ignored;
    self->stream_->socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    self->Send();
  });
}

void SseConnection::Send() {
  parser_.emplace();
  // Streams are long (their bytes are consumed as they come). Not boost::none: Beast 1.74
  // compares a Content-Length against an empty limit as if it were exceeded.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  buffer_.clear();
  sse_ = SseParser();
  events_.clear();
  stream_->expires_after(timeout_);
  http::async_write(*stream_, request_, [self = shared_from_this()](error_code ec, size_t) {
    if (ec) return self->OnTransportError(ec, "write");
    self->Read();
  });
}

void SseConnection::Read() {
  stream_->expires_after(timeout_);
  http::async_read_some(*stream_, buffer_, *parser_,
                        [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
}

void SseConnection::OnRead(error_code ec) {
  if (ec) return OnTransportError(ec, "read");
  if (!parser_->is_header_done()) return Read();
  auto& response = parser_->get();
  const int status = response.result_int();
  if (status == 200) {
    // Consume the body read so far: the parser appends to what the string holds.
    std::string& body = response.body();
    if (!body.empty()) {
      sse_.Feed(body, &events_);
      body.clear();
    }
    for (size_t i = 0; i < events_.size(); ++i) {
      if (!on_event_(events_[i])) {
        events_.clear();
        Close();
        return Finish({SseStreamEnd::Kind::kStopped, status, "stopped by the client"});
      }
    }
    events_.clear();
  }
  if (!parser_->is_done()) return Read();

  keep_alive_ = parser_->keep_alive();
  if (!keep_alive_) Close();
  stream_->expires_never();
  if (status == 200) return Finish({SseStreamEnd::Kind::kComplete, status, ""});
  Finish({SseStreamEnd::Kind::kHttpError, status, std::move(response.body())});
}

void SseConnection::OnTransportError(error_code ec, std::string_view step) {
  const bool got_response = parser_ && parser_->got_some();
  if (reused_ && !retried_ && !got_response && IsStaleConnection(ec)) {
    retried_ = true;
    reused_ = false;
    Close();
    return Connect();
  }
  const int status = parser_ && parser_->is_header_done() ? parser_->get().result_int() : 0;
  Close();
  std::string message;
  if (ec == beast::error::timeout) {
    message = fmt::format("{}: timed out (nothing for {} ms)", step, timeout_.count());
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
             ec == asio::error::eof) {
    message = got_response ? "the server closed the connection mid-response"
                           : "the server closed the connection before answering";
  } else {
    message = fmt::format("{}: {}", step, ec.message());
  }
  Finish({SseStreamEnd::Kind::kTransportError, status, std::move(message)});
}

void SseConnection::Finish(SseStreamEnd end) {
  // Moved out first: the end handler may start the next request on this connection.
  EndHandler on_end = std::move(on_end_);
  on_end_ = nullptr;
  on_event_ = nullptr;
  if (on_end) on_end(end);
}

}  // namespace atom::loadgen
