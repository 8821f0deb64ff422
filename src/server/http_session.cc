#include "server/http_session.h"

#include <algorithm>
#include <exception>
#include <functional>
#include <utility>

#include "core/logging.h"
#include "server/asio.h"

namespace atom {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(2);
constexpr auto kShutdownDrainTimeout = std::chrono::milliseconds(100);
// Bytes discarded before closing anyway. Generous, so that a client still sending an oversized
// body (413) reads the answer instead of a reset; kDrainTimeout bounds the time spent.
constexpr size_t kDrainLimit = size_t(256) << 20;
constexpr size_t kMonitorReadSize = 4096;
constexpr size_t kDrainReadSize = 64 << 10;
constexpr size_t kMaxLoggedTarget = 200;

std::string FormatEndpoint(const asio::ip::tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string_view View(boost::beast::string_view s) { return std::string_view(s.data(), s.size()); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "/a/b?x=1" -> "/a/b"; "http://host:80/a?x" -> "/a".
std::string PathOf(std::string_view target) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return std::string(target.substr(0, target.find_first_of("?#")));
}

}  // namespace

HttpSession::HttpSession(std::shared_ptr<HttpServer::State> state, tcp::socket socket)
    : state_(std::move(state)), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

HttpSession::~HttpSession() = default;

void HttpSession::Start() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->id_ = self->state_->Register(self);
    self->counted_ = true;
    error_code ec;
    self->socket_.set_option(tcp::no_delay(true), ec);
    auto ep = self->socket_.remote_endpoint(ec);
    self->remote_ = ec ? "?" : FormatEndpoint(ep);
    if (self->state_->stopping) {
      self->Close("server stopping");
      return;
    }
    self->ReadNext();
  });
}

void HttpSession::Reject() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->id_ = self->state_->Register(self);
    self->counted_ = true;
    error_code ec;
    auto ep = self->socket_.remote_endpoint(ec);
    self->remote_ = ec ? "?" : FormatEndpoint(ep);
    self->start_ = std::chrono::steady_clock::now();
    ATOM_LOG_WARN("http: {} rejected: {} connections open (max_connections)", self->remote_,
                  self->state_->options.max_connections);
    self->SendError(503, "too many connections; retry later");
  });
}

void HttpSession::BeginShutdown() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kIdle) {
      self->Close("server stopping");
    } else if (self->phase_ == Phase::kAfterResponse) {
      self->GracefulClose();
    } else if (self->phase_ == Phase::kDraining) {
      self->ArmTimer(kShutdownDrainTimeout);
    } else {
      std::lock_guard lock(self->mu_);
      self->keep_alive_ = false;
    }
  });
}

void HttpSession::ForceClose() {
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->Close("server shut down"); });
}

// ---- Reading requests -------------------------------------------------------------------------

void HttpSession::ReadNext() {
  if (phase_ == Phase::kClosed) return;
  if (state_->stopping) {
    GracefulClose();
    return;
  }
  parser_.emplace();
  parser_->header_limit(
      static_cast<uint32_t>(std::min<size_t>(state_->options.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(state_->options.max_body_bytes);
  timed_out_ = false;
  method_ = "-";
  target_ = "-";
  if (buffer_.size() > 0) {  // pipelined bytes already here
    ReadRequest();
    return;
  }
  phase_ = Phase::kIdle;
  ArmTimer(state_->options.idle_timeout);
  read_pending_ = true;
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
    self->read_pending_ = false;
    self->OnReadable(ec);
  });
}

void HttpSession::OnReadable(error_code ec) {
  if (phase_ != Phase::kIdle) return;
  if (ec) {
    Close("idle");
    return;
  }
  ReadRequest();
}

void HttpSession::ReadRequest() {
  phase_ = Phase::kReading;
  start_ = std::chrono::steady_clock::now();
  ArmTimer(state_->options.read_timeout);
  read_pending_ = true;
  bhttp::async_read_header(socket_, buffer_, *parser_,
                           [self = shared_from_this()](error_code ec, size_t) {
                             self->read_pending_ = false;
                             self->OnHeader(ec);
                           });
}

void HttpSession::OnHeader(error_code ec) {
  if (phase_ != Phase::kReading) return;
  if (ec || parser_->is_done()) {
    OnRequest(ec);
    return;
  }
  const auto& req = parser_->get();
  method_ = std::string(req.method_string());
  target_ = std::string(req.target());
  auto read_body = [self = shared_from_this()] {
    self->read_pending_ = true;
    bhttp::async_read(self->socket_, self->buffer_, *self->parser_, [self](error_code ec, size_t) {
      self->read_pending_ = false;
      self->OnRequest(ec);
    });
  };
  auto expect = req.find(bhttp::field::expect);
  if (expect != req.end() && Lower(View(expect->value())) == "100-continue" &&
      req.version() == 11) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this(), read_body](error_code ec, size_t) {
                        if (self->phase_ != Phase::kReading) return;
                        if (ec) {
                          self->OnRequest(ec);
                          return;
                        }
                        read_body();
                      });
    return;
  }
  read_body();
}

void HttpSession::OnRequest(error_code ec) {
  if (phase_ != Phase::kReading) return;
  DisarmTimer();
  if (timed_out_) {
    SendError(408, "request not received in time");
    return;
  }
  if (ec == bhttp::error::end_of_stream) {
    Close("client closed");
    return;
  }
  if (ec == bhttp::error::body_limit) {
    SendError(413, fmt::format("request body exceeds {} bytes", state_->options.max_body_bytes));
    return;
  }
  if (ec == bhttp::error::header_limit) {
    SendError(431,
              fmt::format("request headers exceed {} bytes", state_->options.max_header_bytes));
    return;
  }
  if (ec == bhttp::error::partial_message) {
    Close("client closed mid-request");
    return;
  }
  if (ec && ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    SendError(400, fmt::format("malformed HTTP request: {}", ec.message()));
    return;
  }
  if (ec) {
    Close(ec.message());
    return;
  }
  Dispatch();
}

// ---- Handing the request to the handler ---------------------------------------------------------

void HttpSession::Dispatch() {
  bhttp::request<bhttp::string_body> msg = parser_->release();
  parser_.reset();
  HttpRequest request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  request.path = PathOf(request.target);
  request.version = msg.version() == 10 ? 10 : 11;
  for (const auto& field : msg) {
    std::string name = Lower(View(field.name_string()));
    auto [it, inserted] = request.headers.try_emplace(name, std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second.append(field.value().data(), field.value().size());
    }
  }
  request.body = std::move(msg.body());
  request.remote = remote_;
  method_ = request.method;
  target_ = request.target;

  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = ++seq_;
    response_ = Response::kNone;
    keep_alive_ = msg.keep_alive() && !state_->stopping;
    version_ = request.version;
    head_ = msg.method() == bhttp::verb::head;
    chunked_ = false;
    status_ = 0;
    bytes_out_ = 0;
  }
  phase_ = Phase::kResponding;
  StartMonitor();

  std::shared_ptr<ResponseWriter> writer = MakeWriter(seq);
  try {
    state_->handler(std::move(request), writer);
  } catch (const std::exception& e) {
    ATOM_LOG_ERROR("http: handler threw on {} {}: {}", method_, target_, e.what());
    writer->Send(500, "application/json", http::ErrorBody(500, "internal server error"), {});
  } catch (...) {
    ATOM_LOG_ERROR("http: handler threw on {} {}", method_, target_);
    writer->Send(500, "application/json", http::ErrorBody(500, "internal server error"), {});
  }
}

void HttpSession::StartMonitor() {
  if (read_pending_ || phase_ != Phase::kResponding) return;
  // Pipelined bytes beyond what one request head may hold are not read until the response ends
  // (a disconnect is then noticed by the next failed write instead).
  if (buffer_.size() >= state_->options.max_header_bytes + kMonitorReadSize) return;
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(kMonitorReadSize),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            self->read_pending_ = false;
                            self->OnMonitor(ec, n);
                          });
}

void HttpSession::OnMonitor(error_code ec, size_t n) {
  buffer_.commit(n);
  switch (phase_) {
    case Phase::kClosed:
      return;
    case Phase::kAfterResponse:
      ReadNext();
      return;
    case Phase::kDraining:
      if (ec) {
        Close("closed");
      } else {
        buffer_.consume(buffer_.size());
        StartDrain();
      }
      return;
    case Phase::kResponding:
      if (ec == asio::error::operation_aborted) return;
      if (ec == asio::error::eof && ResponseFullyQueued() && !writing_.empty()) {
        // The client read what it wanted and left while the last write is in flight: let the
        // write finish (the response is then logged as complete), then close.
        peer_closed_ = true;
        return;
      }
      if (ec) {
        Close(ec == asio::error::eof ? "client closed" : ec.message());
        return;
      }
      StartMonitor();
      return;
    default:
      return;
  }
}

bool HttpSession::ResponseFullyQueued() const {
  std::lock_guard lock(mu_);
  return response_ == Response::kEnded && out_.empty();
}

void HttpSession::FinishResponse() {
  if (phase_ != Phase::kResponding) return;
  bool keep_alive;
  uint64_t seq;
  // Destroyed after the lock is released: the callback may own the last reference to a writer,
  // whose destructor takes the lock.
  std::function<void()> dropped;
  {
    std::lock_guard lock(mu_);
    seq = seq_;
    keep_alive = keep_alive_ && !state_->stopping;
    dropped = std::exchange(on_disconnect_, nullptr);
  }
  if (finished_seq_ == seq) return;
  finished_seq_ = seq;
  LogAccess("");
  if (peer_closed_) {
    Close("client closed");
  } else if (!keep_alive) {
    GracefulClose();
  } else if (read_pending_) {
    // The monitor read returns (cancelled, or with pipelined bytes) and then reads the next one.
    phase_ = Phase::kAfterResponse;
    error_code ignored;
    socket_.cancel(ignored);
  } else {
    ReadNext();
  }
}

// Answers a request the handler never sees (400, 408, 413, 431, 503) and closes.
void HttpSession::SendError(int status, std::string_view message) {
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = ++seq_;
    response_ = Response::kNone;
    keep_alive_ = false;
    version_ = 11;
    head_ = false;
    status_ = 0;
    bytes_out_ = 0;
  }
  phase_ = Phase::kResponding;
  http::HeaderList headers;
  if (status == 503) headers.emplace_back("Retry-After", "1");
  Send(seq, status, "application/json", http::ErrorBody(status, message), std::move(headers));
}

// Shuts the send side after a complete response and discards what the client still sends for a
// moment, so the response is not lost to a reset caused by unread input.
void HttpSession::GracefulClose() {
  if (phase_ == Phase::kClosed || phase_ == Phase::kDraining) return;
  phase_ = Phase::kDraining;
  drained_ = 0;
  if (state_->stopping) {
    ArmTimer(kShutdownDrainTimeout);
  } else {
    ArmTimer(kDrainTimeout);
  }
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  buffer_.consume(buffer_.size());
  if (!read_pending_) StartDrain();  // else the pending read continues the drain
}

void HttpSession::StartDrain() {
  if (drained_ >= kDrainLimit) {
    Close("closed");
    return;
  }
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(kDrainReadSize),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            self->read_pending_ = false;
                            self->drained_ += n;
                            self->OnMonitor(ec, n);
                          });
}

void HttpSession::Close(std::string_view reason) {
  if (phase_ == Phase::kClosed) return;
  bool was_responding = phase_ == Phase::kResponding;
  phase_ = Phase::kClosed;
  DisarmTimer();
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  std::function<void()> callback;  // called, or just destroyed, after the lock is released
  uint64_t seq;
  bool ended;
  {
    std::lock_guard lock(mu_);
    disconnected_ = true;
    out_.clear();
    callback = std::exchange(on_disconnect_, nullptr);
    ended = response_ == Response::kEnded;
    seq = seq_;
  }
  if (ended) callback = nullptr;
  if (was_responding && finished_seq_ != seq) {
    finished_seq_ = seq;
    LogAccess(fmt::format("(connection closed before the response ended: {})", reason));
  }
  if (counted_) {
    counted_ = false;
    state_->active.fetch_sub(1);
    state_->Unregister(id_);
  }
  if (callback) {
    try {
      callback();
    } catch (const std::exception& e) {
      ATOM_LOG_ERROR("http: OnDisconnect callback threw: {}", e.what());
    } catch (...) {
      ATOM_LOG_ERROR("http: OnDisconnect callback threw");
    }
  }
}

// ---- Deadlines --------------------------------------------------------------------------------

void HttpSession::ArmTimer(std::chrono::steady_clock::duration d) {
  uint64_t gen = ++timer_gen_;
  timer_.expires_after(d);
  timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
    if (ec || gen != self->timer_gen_) return;
    self->OnTimeout();
  });
}

void HttpSession::DisarmTimer() {
  ++timer_gen_;
  timer_.cancel();
}

void HttpSession::OnTimeout() {
  switch (phase_) {
    case Phase::kIdle:
      Close("idle timeout");
      return;
    case Phase::kReading: {
      timed_out_ = true;  // the read completes as cancelled and answers 408
      error_code ignored;
      socket_.cancel(ignored);
      return;
    }
    case Phase::kResponding:
      Close("write timed out");
      return;
    case Phase::kDraining:
      Close("closed");
      return;
    default:
      return;
  }
}

void HttpSession::LogAccess(std::string_view note) {
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  int status;
  size_t bytes;
  {
    std::lock_guard lock(mu_);
    status = status_;
    bytes = bytes_out_;
  }
  std::string_view target = target_;
  if (target.size() > kMaxLoggedTarget) target = target.substr(0, kMaxLoggedTarget);
  ATOM_LOG_INFO("http {} \"{} {}\" {} {}B {:.1f}ms{}{}", remote_, method_, target, status, bytes,
                ms, note.empty() ? "" : " ", note);
}

}  // namespace atom
