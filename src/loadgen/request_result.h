// RequestResult: what the load generator measured for one streamed request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace atom::loadgen {

enum class RequestOutcome {
  kSuccess,       // the stream ended with [DONE]
  kFailed,        // an HTTP error status, an error event, a transport error or a broken stream
  kDisconnected,  // the client closed the connection on purpose (--disconnect-after)
};

struct RequestResult {
  int index = 0;  // the request's number, 0-based, in arrival order
  RequestOutcome outcome = RequestOutcome::kFailed;
  int http_status = 0;  // 0 when no response header arrived
  std::string error;    // why it failed; empty otherwise

  // Seconds. start_s counts from the start of the run; the others from this request's start
  // (when it was handed to a connection, after any wait for a free slot).
  double start_s = 0;
  double ttft_s = 0;          // to the first content-bearing chunk; 0 when none arrived
  std::vector<double> itl_s;  // between successive content-bearing chunks
  double e2e_s = 0;           // to the end of the stream (or the failure / disconnect)

  int64_t prompt_tokens = 0;  // from usage when reported, else the requested input length
  int64_t output_tokens = 0;  // from usage when reported, else content_chunks
  int64_t content_chunks = 0;
  bool usage_reported = false;
};

}  // namespace atom::loadgen
