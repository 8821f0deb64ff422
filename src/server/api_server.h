// ApiServer: the OpenAI-compatible HTTP API over an Engine.
//
// Routes: GET / (the chat page), POST /v1/chat/completions, POST /v1/completions,
// GET /v1/models, POST /tokenize, POST /detokenize, GET /health, GET /version, GET /metrics.
// The server listens from Start(), so that /health can answer 503 while the model loads;
// Serve() attaches the engine and makes it ready.
// Handlers run on the HTTP I/O threads and never block: generation requests are queued on the
// engine, whose loop thread streams the outputs back through the response writers. A client that
// disconnects aborts its engine requests. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/status.h"
#include "engine/engine.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_requests.h"

namespace atom {

struct ApiServerOptions {
  HttpServerOptions http;
  std::string served_model_name;  // what /v1/models lists and requests must name
  std::string api_key;            // empty: no authentication
};

class ApiServer {
 public:
  static StatusOr<std::unique_ptr<ApiServer>> Create(ApiServerOptions options);
  int port() const { return http_->port(); }
  void Start() { http_->Start(); }
  // Starts answering the API with `engine` (started) and `tokenizer`; both must outlive the
  // server. Called once.
  void Serve(Engine& engine, const Tokenizer& tokenizer);
  // Not ready: /health answers 503 and generation requests are refused with 503.
  void SetReady(bool ready) { ready_ = ready; }
  // Stops accepting, lets in-flight responses finish up to `grace`, then cuts the rest (their
  // engine requests are aborted).
  void Shutdown(std::chrono::milliseconds grace) { http_->Shutdown(grace); }

 private:
  struct Job;
  explicit ApiServer(ApiServerOptions options) : options_(std::move(options)) {}

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer);
  void Generate(const HttpRequest& http, OpenAiRequest request,
                std::shared_ptr<ResponseWriter> writer);
  void SendJson(ResponseWriter& writer, const std::string& route, int status,
                const std::string& body);
  void SendError(ResponseWriter& writer, const std::string& route, const ApiError& error);

  ApiServerOptions options_;
  // Set once by Serve() before `attached_` is released; read only after `attached_` is seen.
  Engine* engine_ = nullptr;
  const Tokenizer* tokenizer_ = nullptr;
  OpenAiServerInfo info_;
  std::atomic<bool> attached_{false};
  ServerMetrics metrics_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<HttpServer> http_;
};

}  // namespace atom
