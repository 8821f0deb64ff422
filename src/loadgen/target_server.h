// The server under test: where it is (an http:// URL, resolved once) and which model it serves
// (GET /v1/models). Used before a load run starts, so these calls block.
#pragma once

#include <chrono>
#include <string>

// clang-format off
#include <utility>  // before Asio: Boost 1.74 needs it under C++20 (see server/asio.h)

#include <boost/asio/ip/tcp.hpp>
// clang-format on

#include "core/status.h"

namespace atom::loadgen {

struct TargetServer {
  std::string host;  // as written in the URL, for the Host header
  int port = 80;
  std::string base_path;  // the URL's path without a trailing '/', put before every endpoint
  boost::asio::ip::tcp::endpoint endpoint;  // the first address `host` resolves to

  std::string HostHeader() const { return host + ":" + std::to_string(port); }
};

// Parses "http://host[:port][/base]" (also "[v6]:port"; the scheme may be left out) and resolves
// the host. https is not supported.
StatusOr<TargetServer> ResolveTargetServer(const std::string& url);

// The first model id that GET {base}/v1/models lists (sent with "Authorization: Bearer KEY" when
// `api_key` is set).
StatusOr<std::string> FetchFirstModelId(const TargetServer& server, const std::string& api_key,
                                        std::chrono::seconds timeout);

}  // namespace atom::loadgen
