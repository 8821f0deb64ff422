#include "server/http_server.h"

#include <exception>
#include <thread>

#include "core/logging.h"
#include "server/asio.h"
#include "server/http_server_state.h"
#include "server/http_session.h"

namespace atom {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// Accepts connections one at a time on the acceptor's strand until the acceptor closes.
void Accept(HttpServer::State* s) {
  s->acceptor.async_accept(asio::make_strand(s->ioc), [s](error_code ec, tcp::socket socket) {
    if (s->stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Typically out of file descriptors: back off instead of spinning.
      ATOM_LOG_WARN("http: accept failed: {}", ec.message());
      s->accept_retry.expires_after(std::chrono::milliseconds(50));
      s->accept_retry.async_wait([s](error_code wait_ec) {
        if (!wait_ec) Accept(s);
      });
      return;
    }
    auto session = std::make_shared<HttpSession>(s->shared_from_this(), std::move(socket));
    int open = s->active.fetch_add(1);
    if (open >= s->options.max_connections) {
      session->Reject();
    } else {
      session->Start();
    }
    Accept(s);
  });
}

void RunIoThread(HttpServer::State* s) {
  for (;;) {
    try {
      s->ioc.run();
      return;
    } catch (const std::exception& e) {
      ATOM_LOG_ERROR("http: I/O thread caught: {}", e.what());
    } catch (...) {
      ATOM_LOG_ERROR("http: I/O thread caught an unknown exception");
    }
  }
}

}  // namespace

uint64_t HttpServer::State::Register(const std::shared_ptr<HttpSession>& session) {
  std::lock_guard lock(mu_);
  uint64_t id = ++next_id_;
  sessions_.emplace(id, session);
  return id;
}

void HttpServer::State::Unregister(uint64_t id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

std::vector<std::shared_ptr<HttpSession>> HttpServer::State::Sessions() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<HttpSession>> out;
  out.reserve(sessions_.size());
  for (auto& [id, weak] : sessions_) {
    if (auto session = weak.lock()) out.push_back(std::move(session));
  }
  return out;
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                         HttpHandler handler) {
  if (!handler) return InvalidArgument("HttpServer: no handler");
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("--port {} is not a TCP port (0..65535)", options.port);
  }
  if (options.io_threads < 1) options.io_threads = 1;
  std::string where = fmt::format("{}:{}", options.host, options.port);
  auto state = std::make_shared<State>(std::move(options), std::move(handler));
  const HttpServerOptions& opt = state->options;

  error_code ec;
  tcp::resolver resolver(state->ioc);
  auto results = resolver.resolve(opt.host, std::to_string(opt.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return InvalidArgument("cannot resolve the listen address {}: {}", where,
                           ec ? ec.message() : "no address");
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor& acceptor = state->acceptor;
  if (acceptor.open(endpoint.protocol(), ec) ||
      acceptor.set_option(asio::socket_base::reuse_address(true), ec) ||
      acceptor.bind(endpoint, ec) ||
      acceptor.listen(asio::socket_base::max_listen_connections, ec)) {
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("cannot listen on {}: {}", where, ec.message()));
  }
  state->port = acceptor.local_endpoint(ec).port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

int HttpServer::port() const { return state_->port; }

int HttpServer::active_connections() const { return state_->active.load(); }

void HttpServer::Start() {
  State* s = state_.get();
  if (s->started.exchange(true) || s->stopping) return;
  s->work.emplace(s->ioc.get_executor());
  asio::post(s->acceptor_strand, [s] { Accept(s); });
  for (int i = 0; i < s->options.io_threads; ++i) {
    s->threads.emplace_back([s] { RunIoThread(s); });
  }
  ATOM_LOG_INFO("http: listening on {}:{} ({} I/O threads)", s->options.host, s->port,
                s->options.io_threads);
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  State* s = state_.get();
  if (s->stopping.exchange(true)) return;
  using Clock = std::chrono::steady_clock;
  auto wait_until_closed = [s](Clock::time_point deadline) {
    while (s->active.load() > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };

  if (!s->threads.empty()) {
    // 1. Stop accepting; close idle connections; the others close after their response.
    asio::post(s->acceptor_strand, [s] {
      error_code ignored;
      s->acceptor.close(ignored);
      s->accept_retry.cancel();
    });
    for (auto& session : s->Sessions()) session->BeginShutdown();
    wait_until_closed(Clock::now() + grace);
    // 2. Close what is left; their OnDisconnect callbacks run on the I/O threads.
    if (s->active.load() > 0) {
      ATOM_LOG_INFO("http: closing {} connections still open after the grace period",
                    s->active.load());
      for (auto& session : s->Sessions()) session->ForceClose();
      wait_until_closed(Clock::now() + std::chrono::seconds(1));
    }
    s->work.reset();
    s->ioc.stop();
    for (auto& thread : s->threads) thread.join();
    s->threads.clear();
  }
  // 3. Single-threaded from here: close anything left, then run the queued handlers so none of
  // them keeps a session (and through it this State) alive.
  error_code ignored;
  s->acceptor.close(ignored);
  s->accept_retry.cancel();
  for (auto& session : s->Sessions()) session->ForceClose();
  s->ioc.restart();
  while (s->ioc.poll() > 0) {
  }
  s->stopped = true;
}

}  // namespace atom
