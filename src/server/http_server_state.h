// Internal to the HTTP layer: what the server and its sessions share.
//
// The State owns the io_context. Sessions hold a shared_ptr to it, so a session kept alive by a
// ResponseWriter outside the server (e.g. on the engine thread) never outlives its io_context.
// HttpServer::Shutdown drains the io_context, so no queued handler keeps a session (and so the
// State) alive in a cycle afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/asio.h"
#include "server/http_server.h"

namespace atom {

class HttpSession;

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  using tcp = boost::asio::ip::tcp;
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  State(HttpServerOptions options_in, HttpHandler handler_in)
      : options(std::move(options_in)),
        handler(std::move(handler_in)),
        acceptor_strand(boost::asio::make_strand(ioc)),
        acceptor(acceptor_strand),
        accept_retry(acceptor_strand) {}

  // Adds a session to the registry; returns its id for Unregister. Thread-safe.
  uint64_t Register(const std::shared_ptr<HttpSession>& session);
  void Unregister(uint64_t id);
  // Live sessions, for shutdown. Thread-safe.
  std::vector<std::shared_ptr<HttpSession>> Sessions();

  const HttpServerOptions options;
  const HttpHandler handler;

  boost::asio::io_context ioc;
  Strand acceptor_strand;
  tcp::acceptor acceptor;
  boost::asio::steady_timer accept_retry;  // backs off after accept errors (e.g. EMFILE)
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  int port = 0;

  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};  // no new connections; connections close after a response
  std::atomic<bool> stopped{false};   // I/O threads joined and the io_context drained
  std::atomic<int> active{0};         // open connections

 private:
  std::mutex mu_;
  uint64_t next_id_ = 0;                                               // guarded by mu_
  std::unordered_map<uint64_t, std::weak_ptr<HttpSession>> sessions_;  // guarded by mu_
};

}  // namespace atom
