// A tiny blocking HTTP/1.1 client on POSIX sockets, for the HttpServer tests: it sends raw bytes
// (so tests can send anything) and parses responses, recording when each chunk arrived.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atom::testing {

struct HttpTestResponse {
  int status = 0;
  std::string version;                         // "HTTP/1.1"
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
  std::vector<std::string> chunks;  // chunked responses: each chunk as received
  std::vector<std::chrono::steady_clock::time_point> chunk_times;
};

class HttpTestClient {
 public:
  explicit HttpTestClient(int port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Close();
  }
  ~HttpTestClient() { Close(); }
  HttpTestClient(const HttpTestClient&) = delete;
  HttpTestClient& operator=(const HttpTestClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Closes with an RST instead of a FIN (SO_LINGER 0).
  void Reset() {
    if (fd_ < 0) return;
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    Close();
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      if (fd_ < 0) return false;
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (skipping 100 Continue). nullopt on EOF, timeout or garbage.
  std::optional<HttpTestResponse> Read(bool head_request = false) {
    HttpTestResponse r;
    for (;;) {
      std::string line;
      if (!ReadLine(&line) || line.size() < 12 || !line.starts_with("HTTP/1.")) return {};
      r.version = line.substr(0, 8);
      r.status = std::atoi(line.c_str() + 9);
      for (;;) {
        if (!ReadLine(&line)) return {};
        if (line.empty()) break;
        size_t colon = line.find(':');
        if (colon == std::string::npos) return {};
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = line.find_first_not_of(' ', colon + 1);
        r.headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      if (r.status != 100) break;
      r.headers.clear();
    }
    if (head_request || r.status == 204 || r.status == 304) return r;
    if (r.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        std::string line;
        if (!ReadLine(&line)) return {};
        size_t size = std::strtoul(line.c_str(), nullptr, 16);
        std::string data;
        if (!ReadN(size + 2, &data)) return {};
        if (size == 0) break;
        data.resize(size);
        r.chunk_times.push_back(std::chrono::steady_clock::now());
        r.body += data;
        r.chunks.push_back(std::move(data));
      }
    } else if (r.headers.count("content-length")) {
      if (!ReadN(std::strtoul(r.headers["content-length"].c_str(), nullptr, 10), &r.body)) {
        return {};
      }
    } else {
      while (Fill()) {
      }
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }

  // Reads the header of a streamed response and then up to `n` chunks (fewer if the stream
  // ends or breaks). For tests that act in the middle of a stream.
  std::optional<HttpTestResponse> ReadHeadAndChunks(size_t n) {
    HttpTestResponse r;
    std::string line;
    if (!ReadLine(&line) || !line.starts_with("HTTP/1.")) return {};
    r.status = std::atoi(line.c_str() + 9);
    while (ReadLine(&line) && !line.empty()) {
    }
    while (r.chunks.size() < n) {
      if (!ReadLine(&line)) break;
      size_t size = std::strtoul(line.c_str(), nullptr, 16);
      std::string data;
      if (!ReadN(size + 2, &data) || size == 0) break;
      data.resize(size);
      r.chunks.push_back(std::move(data));
    }
    return r;
  }

  // True if the server closed the connection (EOF or reset) within `timeout_ms`.
  bool WaitClosed(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (fd_ >= 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) return true;
    }
    return false;
  }

  bool ReadLine(std::string* line) {
    for (;;) {
      size_t pos = buf_.find("\r\n");
      if (pos != std::string::npos) {
        *line = buf_.substr(0, pos);
        buf_.erase(0, pos + 2);
        return true;
      }
      if (!Fill()) return false;
    }
  }

  bool ReadN(size_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!Fill()) return false;
    }
    *out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }

  int fd() const { return fd_; }

 private:
  bool Fill() {
    if (fd_ < 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

}  // namespace atom::testing
