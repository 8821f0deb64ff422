#include "server/api_server.h"

#include <chrono>
#include <mutex>

#include "core/logging.h"
#include "server/api_error.h"
#include "server/chat_page.h"
#include "server/openai_responses.h"
#include "server/openai_stream.h"

namespace atom {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";

double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

// One generation request in flight: its engine requests, what has come back, and how to answer.
// Engine callbacks (loop thread) and disconnects (I/O thread) meet here under `mutex`.
struct ApiServer::Job {
  OpenAiRequest request;
  std::string route;
  std::shared_ptr<ResponseWriter> writer;
  std::vector<int64_t> engine_ids;                               // one per prompt
  std::vector<SequenceResult> results;                           // non-streaming
  std::vector<std::unique_ptr<ChatStreamEncoder>> chat_streams;  // streaming chat
  std::vector<std::unique_ptr<CompletionStreamEncoder>> completion_streams;
  int unfinished = 0;
  bool failed = false;  // refused by the engine: its outputs answer nothing
  Clock::time_point arrival = Clock::now();
  std::optional<Clock::time_point> first_token;
  std::mutex mutex;
};

StatusOr<std::unique_ptr<ApiServer>> ApiServer::Create(ApiServerOptions options) {
  std::unique_ptr<ApiServer> server(new ApiServer(std::move(options)));
  ApiServer* self = server.get();
  ATOM_ASSIGN_OR_RETURN(
      server->http_, HttpServer::Create(server->options_.http,
                                        [self](HttpRequest r, std::shared_ptr<ResponseWriter> w) {
                                          self->Handle(std::move(r), std::move(w));
                                        }));
  return server;
}

void ApiServer::Serve(Engine& engine, const Tokenizer& tokenizer) {
  engine_ = &engine;
  tokenizer_ = &tokenizer;
  info_.model_name = options_.served_model_name;
  info_.tokenizer = tokenizer_;
  info_.max_model_len = engine.max_model_len();
  info_.chat_stop_token_ids = engine.config().eos_token_ids;
  attached_.store(true, std::memory_order_release);
  ready_ = true;
}

void ApiServer::SendJson(ResponseWriter& writer, const std::string& route, int status,
                         const std::string& body) {
  metrics_.RecordRequest(route, status);
  writer.Send(status, kJson, body);
}

void ApiServer::SendError(ResponseWriter& writer, const std::string& route, const ApiError& error) {
  metrics_.RecordRequest(route, error.status);
  std::vector<std::pair<std::string, std::string>> headers;
  if (error.status == 503 || error.status == 429) headers.emplace_back("Retry-After", "1");
  writer.Send(error.status, kJson, ToJson(error), std::move(headers));
}

void ApiServer::Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";

  if (path == "/health") {
    metrics_.RecordRequest(path, ready_ ? 200 : 503);
    writer->Send(ready_ ? 200 : 503, "text/plain", ready_ ? "" : "loading");
    return;
  }
  if (path == "/" && get) {
    metrics_.RecordRequest(path, 200);
    writer->Send(200, "text/html; charset=utf-8", std::string(ChatPageHtml()));
    return;
  }
  if (path == "/version" && get) {
    SendJson(*writer, path, 200, R"({"version":"0.1.0"})");
    return;
  }
  const bool attached = attached_.load(std::memory_order_acquire);
  if (path == "/metrics" && get) {
    metrics_.RecordRequest(path, 200);
    writer->Send(200, "text/plain; version=0.0.4",
                 metrics_.Render(attached ? engine_->stats() : EngineStats{}));
    return;
  }
  const bool api = path.starts_with("/v1/") || path == "/tokenize" || path == "/detokenize";
  if (api && !options_.api_key.empty()) {
    auto it = request.headers.find("authorization");
    const bool missing = it == request.headers.end();
    if (missing || it->second != "Bearer " + options_.api_key) {
      SendError(*writer, path, UnauthorizedError(missing));
      return;
    }
  }
  if (!attached) {
    return SendError(*writer, path, ServiceUnavailableError("the model is still loading"));
  }
  if (path == "/v1/models") {
    if (!get) return SendError(*writer, path, MethodNotAllowedError(request.method, path));
    SendJson(*writer, path, 200, DumpJson(BuildModelList(info_, CreatedNow(info_))));
    return;
  }
  if (path == "/tokenize" || path == "/detokenize") {
    if (!post) return SendError(*writer, path, MethodNotAllowedError(request.method, path));
    ApiResult<nlohmann::json> result = path == "/tokenize" ? HandleTokenize(request.body, info_)
                                                           : HandleDetokenize(request.body, info_);
    if (!result.ok()) return SendError(*writer, path, result.error());
    SendJson(*writer, path, 200, DumpJson(result.value()));
    return;
  }
  if (path == "/v1/chat/completions" || path == "/v1/completions") {
    if (!post) return SendError(*writer, path, MethodNotAllowedError(request.method, path));
    if (!ready_)
      return SendError(*writer, path, ServiceUnavailableError("the model is still loading"));
    ApiResult<OpenAiRequest> parsed = path == "/v1/chat/completions"
                                          ? ParseChatCompletionRequest(request.body, info_)
                                          : ParseCompletionRequest(request.body, info_);
    if (!parsed.ok()) return SendError(*writer, path, parsed.error());
    Generate(request, std::move(parsed).value(), std::move(writer));
    return;
  }
  SendError(*writer, path, RouteNotFoundError(path));
}

void ApiServer::Generate(const HttpRequest& http, OpenAiRequest request,
                         std::shared_ptr<ResponseWriter> writer) {
  auto job = std::make_shared<Job>();
  job->route = http.path;
  job->writer = writer;
  job->request = std::move(request);
  const OpenAiRequest& req = job->request;
  const bool chat = req.endpoint == OpenAiEndpoint::kChatCompletions;
  const int choices = req.num_choices();
  job->unfinished = choices;
  if (req.stream) {
    for (int c = 0; c < choices; ++c) {
      if (chat)
        job->chat_streams.push_back(std::make_unique<ChatStreamEncoder>(req, *tokenizer_, c));
      else
        job->completion_streams.push_back(
            std::make_unique<CompletionStreamEncoder>(req, *tokenizer_, c));
    }
  } else {
    job->results.resize(choices);
  }

  // Runs on the engine's loop thread for every output of every sequence.
  auto on_output = [this, job, chat](int prompt_index, const RequestOutput& out) {
    std::lock_guard<std::mutex> lock(job->mutex);
    if (job->failed) return;
    const OpenAiRequest& req = job->request;
    const int choice = prompt_index * req.params.n + out.index;
    if (!job->first_token && !out.token_ids.empty()) job->first_token = Clock::now();
    if (req.stream) {
      std::string sse =
          chat ? job->chat_streams[choice]->Push(out) : job->completion_streams[choice]->Push(out);
      if (!sse.empty()) job->writer->Write(std::move(sse));
    } else {
      job->results[choice].Append(out);
    }
    if (!out.finish_reason || --job->unfinished > 0) return;

    // The last sequence finished: answer and record.
    const Clock::time_point now = Clock::now();
    int64_t prompt_tokens = 0, generated = 0;
    if (req.stream) {
      std::vector<ChoiceUsage> usage;
      for (auto& s : job->chat_streams) usage.push_back(s->usage());
      for (auto& s : job->completion_streams) usage.push_back(s->usage());
      const UsageInfo total = ComputeUsage(req, usage);
      prompt_tokens = total.prompt_tokens;
      generated = total.completion_tokens;
      if (req.include_usage) job->writer->Write(EncodeUsageChunk(req, total));
      job->writer->Write(SseDone());
      job->writer->End();
    } else {
      const UsageInfo total = ComputeUsage(req, job->results);
      prompt_tokens = total.prompt_tokens;
      generated = total.completion_tokens;
      const nlohmann::json body = chat ? BuildChatCompletion(req, *tokenizer_, job->results)
                                       : BuildCompletion(req, *tokenizer_, job->results);
      job->writer->Send(200, kJson, DumpJson(body));
    }
    const double e2e = SecondsBetween(job->arrival, now);
    const double ttft = job->first_token ? SecondsBetween(job->arrival, *job->first_token) : e2e;
    const double tpot = generated > 1 ? (e2e - ttft) / double(generated - 1) : 0.0;
    metrics_.RecordGeneration(prompt_tokens, generated, ttft, tpot, e2e);
  };

  // Queue every prompt; on a failure, take back what was queued. The lock keeps the engine's
  // first outputs waiting until the stream has started.
  std::lock_guard<std::mutex> lock(job->mutex);
  for (size_t p = 0; p < req.prompts.size(); ++p) {
    auto id =
        engine_->AddRequest(req.prompts[p], req.params,
                            [on_output, p](const RequestOutput& out) { on_output(int(p), out); });
    if (!id.ok()) {
      for (int64_t queued : job->engine_ids) engine_->Abort(queued);
      job->failed = true;
      SendError(*writer, job->route, ApiErrorFromStatus(id.status()));
      return;
    }
    job->engine_ids.push_back(*id);
  }
  metrics_.RecordRequest(job->route, 200);
  if (req.stream) {
    writer->StartStream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
    for (auto& s : job->chat_streams) writer->Write(s->Start());
  }
  // A client that goes away aborts its requests; the engine frees their blocks within a step.
  // Held weakly: the session keeps this callback, and the job keeps the session's writer.
  writer->OnDisconnect([this, weak = std::weak_ptr<Job>(job)] {
    if (auto job = weak.lock())
      for (int64_t id : job->engine_ids) engine_->Abort(id);
  });
}

}  // namespace atom
