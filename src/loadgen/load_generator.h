// RunLoad: the load generator. Sends num_prompts streamed requests to an OpenAI-compatible
// server, arriving as a Poisson process (or all at once), with at most `concurrency` in flight,
// and records what each one measured.
//
// All connections are driven by one Asio I/O thread (the caller's): there is no thread per
// request. A request that arrives while `concurrency` others are in flight waits for one of them
// to finish; its latencies count from when it is sent, as in vLLM's benchmark_serving.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/status.h"
#include "loadgen/request_result.h"
#include "loadgen/synthetic_requests.h"
#include "loadgen/target_server.h"

namespace atom::loadgen {

struct LoadOptions {
  TargetServer server;
  std::string endpoint = "/v1/completions";  // appended to server.base_path
  std::string api_key;                       // "Authorization: Bearer KEY" when set
  SyntheticRequestOptions requests;          // model, lengths, seed (endpoint kind is derived)
  int num_prompts = 1000;
  int concurrency = 1000;
  double request_rate = std::numeric_limits<double>::infinity();  // requests/s; inf: all at 0
  int disconnect_after = 0;  // > 0: close each stream after this many content chunks
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // silence that fails a request
};

struct LoadRun {
  std::vector<RequestResult> results;  // one per request, in request order
  double duration_s = 0;               // from the first arrival until the last request ended
};

// Arrival times in seconds from the start: gaps drawn from Exp(rate) with `seed` (a Poisson
// process), all 0 when the rate is infinite.
std::vector<double> PoissonArrivals(int count, double rate, uint64_t seed);

// Whether the options can run: counts and lengths at least 1, a positive rate (inf allowed).
Status CheckLoadOptions(const LoadOptions& options);

// Runs the load to its end; every request gets a result, failed or not. Errors only for
// options that CheckLoadOptions refuses.
StatusOr<LoadRun> RunLoad(const LoadOptions& options);

}  // namespace atom::loadgen
