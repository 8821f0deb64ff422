#include "loadgen/target_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

namespace atom::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

StatusOr<TargetServer> ResolveTargetServer(const std::string& url) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) return InvalidArgument("--url {}: https is not supported", url);
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  TargetServer server;
  if (slash != std::string_view::npos) {
    server.base_path = std::string(rest.substr(slash));
    while (server.base_path.ends_with('/')) server.base_path.pop_back();
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {  // [v6 address]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("--url {}: unclosed '['", url);
    server.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (after.starts_with(':')) port_text = after.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    server.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (server.host.empty()) return InvalidArgument("--url {}: no host", url);
  if (!port_text.empty()) {
    auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), server.port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || server.port < 1 ||
        server.port > 65535) {
      return InvalidArgument("--url {}: '{}' is not a port", url, port_text);
    }
  }
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(server.host, std::to_string(server.port),
                                  tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return NotFound("--url {}: cannot resolve {}: {}", url, server.host,
                    ec ? ec.message() : "no address");
  }
  server.endpoint = results.begin()->endpoint();
  return server;
}

StatusOr<std::string> FetchFirstModelId(const TargetServer& server, const std::string& api_key,
                                        std::chrono::seconds timeout) {
  const std::string target = server.base_path + "/v1/models";
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> request(http::verb::get, target, 11);
  request.set(http::field::host, server.HostHeader());
  request.set(http::field::user_agent, "atom-bench");
  if (!api_key.empty()) request.set(http::field::authorization, "Bearer " + api_key);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  boost::system::error_code error;
  // Asynchronous operations run to completion here, so the timeout applies to each step.
  stream.expires_after(timeout);
  stream.async_connect(server.endpoint, [&](boost::system::error_code ec) {
    if ((error = ec)) return;
    http::async_write(stream, request, [&](boost::system::error_code ec, size_t) {
      if ((error = ec)) return;
      http::async_read(stream, buffer, response,
                       [&](boost::system::error_code ec, size_t) { error = ec; });
    });
  });
  ioc.run();
  if (error) return Internal("GET {}: {}", target, error.message());
  if (response.result_int() != 200) {
    return InvalidArgument("GET {}: HTTP {}: {}", target, response.result_int(),
                           response.body().substr(0, 500));
  }
  auto json = nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("data") && json["data"].is_array() &&
      !json["data"].empty() && json["data"][0].is_object() && json["data"][0].contains("id") &&
      json["data"][0]["id"].is_string()) {
    return json["data"][0]["id"].get<std::string>();
  }
  return InvalidArgument("GET {}: no model id in the answer: {}", target,
                         response.body().substr(0, 500));
}

}  // namespace atom::loadgen
