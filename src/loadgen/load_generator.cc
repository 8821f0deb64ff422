#include "loadgen/load_generator.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <deque>
#include <memory>
#include <random>

#include "core/logging.h"
#include "loadgen/sse_client.h"
#include "loadgen/stream_recorder.h"

namespace atom::loadgen {

namespace asio = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kProgressInterval = std::chrono::seconds(10);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One run: arrival timer, connection pool and results, all on one io_context thread.
class LoadRunner {
 public:
  explicit LoadRunner(const LoadOptions& options)
      : options_(options),
        arrival_timer_(ioc_),
        progress_timer_(ioc_),
        arrivals_(
            PoissonArrivals(options.num_prompts, options.request_rate, options.requests.seed)),
        results_(size_t(options.num_prompts)) {
    requests_ = options.requests;
    requests_.endpoint = EndpointOfPath(options.endpoint);
    target_ = options.server.base_path + options.endpoint;
  }

  LoadRun Run() {
    start_ = Clock::now();
    end_ = start_;
    OnArrivalTimer();
    ArmProgressTimer();
    ioc_.run();
    return {std::move(results_), Seconds(end_ - start_)};
  }

 private:
  // Moves every request whose arrival time has come to the ready queue, then waits for the next.
  void OnArrivalTimer() {
    const double now = Seconds(Clock::now() - start_);
    while (next_arrival_ < arrivals_.size() && arrivals_[next_arrival_] <= now)
      ready_.push_back(int(next_arrival_++));
    Dispatch();
    if (next_arrival_ == arrivals_.size()) return;
    arrival_timer_.expires_at(start_ +
                              std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(arrivals_[next_arrival_])));
    arrival_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) OnArrivalTimer();
    });
  }

  // Starts ready requests while fewer than `concurrency` are in flight, on an idle keep-alive
  // connection when there is one, else on a new connection.
  void Dispatch() {
    while (!ready_.empty() && in_flight_ < options_.concurrency) {
      const int index = ready_.front();
      ready_.pop_front();
      std::shared_ptr<SseConnection> connection;
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
      } else {
        connection =
            SseConnection::Create(ioc_.get_executor(), options_.server.endpoint, options_.timeout);
      }
      Start(index, std::move(connection));
    }
  }

  void Start(int index, std::shared_ptr<SseConnection> connection) {
    ++in_flight_;
    const Clock::time_point sent = Clock::now();
    auto recorder =
        std::make_shared<StreamRecorder>(sent, options_.disconnect_after, requests_.input_len);
    SseRequest request;
    request.target = target_;
    request.host = options_.server.HostHeader();
    request.body = SyntheticRequestBody(requests_, index);
    if (!options_.api_key.empty())
      request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
    SseConnection* raw = connection.get();
    raw->Stream(
        std::move(request),
        [recorder](std::string_view data) { return recorder->OnEvent(data, Clock::now()); },
        [this, index, sent, recorder, connection](const SseStreamEnd& end) mutable {
          const Clock::time_point now = Clock::now();
          RequestResult& result = results_[size_t(index)] = recorder->Finish(end, now);
          result.index = index;
          result.start_s = Seconds(sent - start_);
          OnRequestEnd(std::move(connection), now);
        });
  }

  void OnRequestEnd(std::shared_ptr<SseConnection> connection, Clock::time_point now) {
    --in_flight_;
    ++finished_;
    end_ = now;
    if (connection->reusable()) idle_.push_back(std::move(connection));
    Dispatch();
    if (finished_ < options_.num_prompts) return;
    // Everything answered: close the idle connections and let io_context::run return.
    for (auto& c : idle_) c->Close();
    idle_.clear();
    progress_timer_.cancel();
  }

  void ArmProgressTimer() {
    progress_timer_.expires_after(kProgressInterval);
    progress_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || finished_ == options_.num_prompts) return;
      ATOM_LOG_INFO("bench: {}/{} requests done, {} in flight, {} waiting ({:.0f} s)", finished_,
                    options_.num_prompts, in_flight_, ready_.size(),
                    Seconds(Clock::now() - start_));
      ArmProgressTimer();
    });
  }

  const LoadOptions& options_;
  SyntheticRequestOptions requests_;
  std::string target_;
  asio::io_context ioc_;
  asio::steady_timer arrival_timer_;
  asio::steady_timer progress_timer_;
  std::vector<double> arrivals_;
  std::vector<RequestResult> results_;

  Clock::time_point start_;
  Clock::time_point end_;  // when the last request ended
  size_t next_arrival_ = 0;
  std::deque<int> ready_;  // arrived, waiting for a slot
  std::vector<std::shared_ptr<SseConnection>> idle_;
  int in_flight_ = 0;
  int finished_ = 0;
};

}  // namespace

std::vector<double> PoissonArrivals(int count, double rate, uint64_t seed) {
  std::vector<double> arrivals(size_t(std::max(count, 0)), 0.0);
  if (std::isinf(rate)) return arrivals;
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  double t = 0;
  for (double& a : arrivals) {
    a = t;
    t += gap(rng);
  }
  return arrivals;
}

Status CheckLoadOptions(const LoadOptions& options) {
  if (options.num_prompts < 1) return InvalidArgument("--num-prompts must be at least 1");
  if (options.concurrency < 1) return InvalidArgument("--concurrency must be at least 1");
  if (!(options.request_rate > 0)) return InvalidArgument("--request-rate must be positive");
  if (options.requests.input_len < 1 || options.requests.output_len < 1)
    return InvalidArgument("--input-len and --output-len must be at least 1");
  if (options.disconnect_after < 0) return InvalidArgument("--disconnect-after must be >= 0");
  return OkStatus();
}

StatusOr<LoadRun> RunLoad(const LoadOptions& options) {
  ATOM_RETURN_IF_ERROR(CheckLoadOptions(options));
  LoadRunner runner(options);
  return runner.Run();
}

}  // namespace atom::loadgen
