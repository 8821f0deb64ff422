// HttpSession, the response half: the writer's entry points (any thread) and the writes (strand).
#include <functional>
#include <utility>

#include "core/logging.h"
#include "server/asio.h"
#include "server/http_session.h"

namespace atom {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The writer a handler gets: a handle on the session for one request.
class SessionWriter final : public ResponseWriter {
 public:
  SessionWriter(std::shared_ptr<HttpSession> session, uint64_t seq)
      : session_(std::move(session)), seq_(seq) {}
  ~SessionWriter() override { session_->Abandon(seq_); }

  void Send(int status, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>> headers) override {
    session_->Send(seq_, status, std::move(content_type), std::move(body), std::move(headers));
  }
  void StartStream(int status, std::string content_type,
                   std::vector<std::pair<std::string, std::string>> headers) override {
    session_->StartStream(seq_, status, std::move(content_type), std::move(headers));
  }
  bool Write(std::string chunk) override { return session_->Write(seq_, std::move(chunk)); }
  void End() override { session_->End(seq_); }
  void OnDisconnect(std::function<void()> callback) override {
    session_->OnDisconnect(seq_, std::move(callback));
  }
  bool disconnected() const override { return session_->disconnected(); }

 private:
  const std::shared_ptr<HttpSession> session_;
  const uint64_t seq_;
};

}  // namespace

std::shared_ptr<ResponseWriter> HttpSession::MakeWriter(uint64_t seq) {
  return std::make_shared<SessionWriter>(shared_from_this(), seq);
}

// ---- The writer's entry points (any thread)
// ------------------------------------------------------

void HttpSession::EnqueueLocked(std::string_view bytes) {
  out_.append(bytes);
  if (out_.size() > state_->options.max_pending_write_bytes) {
    ATOM_LOG_WARN("http: {} reads too slowly ({} bytes waiting); closing", remote_, out_.size());
    disconnected_ = true;
    out_.clear();
    ForceClose();
    return;
  }
  if (!write_scheduled_) {
    write_scheduled_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->DoWrite(); });
  }
}

void HttpSession::Send(uint64_t seq, int status, std::string content_type, std::string body,
                       http::HeaderList headers) {
  std::lock_guard lock(mu_);
  if (seq != seq_ || disconnected_ || response_ != Response::kNone) return;
  if (status < 100 || status > 999) status = 500;
  response_ = Response::kEnded;
  status_ = status;
  if (state_->stopping) keep_alive_ = false;
  bool no_body = http::StatusHasNoBody(status);
  http::ResponseHead head;
  head.version = version_;
  head.status = status;
  head.content_type = content_type;
  head.extra = &headers;
  head.keep_alive = keep_alive_;
  if (!no_body) head.content_length = body.size();
  std::string bytes = http::FormatResponseHead(head);
  if (!no_body && !head_) bytes += body;
  EnqueueLocked(bytes);
}

void HttpSession::StartStream(uint64_t seq, int status, std::string content_type,
                              http::HeaderList headers) {
  std::lock_guard lock(mu_);
  if (seq != seq_ || disconnected_ || response_ != Response::kNone) return;
  if (status < 100 || status > 999) status = 500;
  response_ = Response::kStreaming;
  status_ = status;
  if (state_->stopping) keep_alive_ = false;
  chunked_ = version_ == 11 && !head_;
  if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the body ends when the connection closes
  http::ResponseHead head;
  head.version = version_;
  head.status = status;
  head.content_type = content_type;
  head.extra = &headers;
  head.chunked = chunked_;
  head.keep_alive = keep_alive_;
  EnqueueLocked(http::FormatResponseHead(head));
}

bool HttpSession::Write(uint64_t seq, std::string chunk) {
  std::lock_guard lock(mu_);
  if (seq != seq_ || disconnected_ || response_ != Response::kStreaming) return false;
  if (chunk.empty() || head_) return true;
  if (chunked_) {
    std::string framed;
    framed.reserve(chunk.size() + 16);
    http::AppendChunk(&framed, chunk);
    EnqueueLocked(framed);
  } else {
    EnqueueLocked(chunk);
  }
  return !disconnected_;
}

void HttpSession::End(uint64_t seq) {
  std::lock_guard lock(mu_);
  if (seq != seq_ || disconnected_ || response_ != Response::kStreaming) return;
  response_ = Response::kEnded;
  EnqueueLocked(chunked_ ? http::kLastChunk : std::string_view());
}

void HttpSession::OnDisconnect(uint64_t seq, std::function<void()> callback) {
  std::unique_lock lock(mu_);
  if (seq != seq_ || response_ == Response::kEnded) return;
  if (!disconnected_) {
    on_disconnect_ = std::move(callback);
    return;
  }
  lock.unlock();
  if (state_->stopped || !callback) return;
  asio::post(state_->ioc, [callback = std::move(callback)] {
    try {
      callback();
    } catch (const std::exception& e) {
      ATOM_LOG_ERROR("http: OnDisconnect callback threw: {}", e.what());
    }
  });
}

bool HttpSession::disconnected() const {
  std::lock_guard lock(mu_);
  return disconnected_;
}

void HttpSession::Abandon(uint64_t seq) {
  std::function<void()> dropped;  // destroyed after the lock is released
  std::lock_guard lock(mu_);
  if (seq != seq_ || disconnected_ || response_ == Response::kEnded) return;
  dropped = std::exchange(on_disconnect_, nullptr);
  if (response_ == Response::kNone) {
    ATOM_LOG_ERROR("http: the handler dropped {} {} without answering", method_, target_);
    response_ = Response::kEnded;
    status_ = 500;
    keep_alive_ = false;
    std::string body = http::ErrorBody(500, "the server dropped the request");
    http::ResponseHead head;
    head.version = version_;
    head.status = 500;
    head.content_type = "application/json";
    head.content_length = body.size();
    head.keep_alive = false;
    EnqueueLocked(http::FormatResponseHead(head) + body);
  } else {
    // A stream that never ended: closing tells the client it is incomplete.
    disconnected_ = true;
    ForceClose();
  }
}

// ---- Writing (strand)
// -----------------------------------------------------------------------------

void HttpSession::DoWrite() {
  {
    std::lock_guard lock(mu_);
    if (phase_ == Phase::kClosed || disconnected_) {
      write_scheduled_ = false;
      return;
    }
    if (out_.empty()) {
      write_scheduled_ = false;
      if (response_ != Response::kEnded) return;
    }
    writing_.swap(out_);
    out_.clear();
  }
  if (writing_.empty()) {  // e.g. End of a raw (HTTP/1.0) stream
    FinishResponse();
    return;
  }
  ArmTimer(state_->options.idle_timeout);  // a client that stops reading for this long is gone
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](error_code ec, size_t n) { self->OnWrite(ec, n); });
}

void HttpSession::OnWrite(error_code ec, size_t n) {
  if (phase_ == Phase::kClosed) return;
  DisarmTimer();
  writing_.clear();
  if (ec) {
    Close(ec == asio::error::operation_aborted ? "write timed out" : ec.message());
    return;
  }
  bool finished = false;
  bool more = false;
  {
    std::lock_guard lock(mu_);
    bytes_out_ += n;
    if (out_.empty()) {
      write_scheduled_ = false;
      finished = response_ == Response::kEnded;
    } else {
      more = true;  // write_scheduled_ stays set: this strand writes it next
    }
  }
  if (more) {
    DoWrite();
  } else if (finished) {
    FinishResponse();
  }
}

}  // namespace atom
