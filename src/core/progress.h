// Progress: reports a long task's progress (bytes done of a total) to the user — a bar redrawn
// in place on a terminal, plain log lines (every 10%) when stderr is not one (a log file, a pipe).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace atom {

class Progress {
 public:
  // `what` names the task ("loading weights"); `total` is in bytes.
  Progress(std::string what, uint64_t total);
  ~Progress() { Finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` of the total are complete. Cheap to call often: it redraws at most every 100 ms.
  void Update(uint64_t done);
  // Draws the final state once (also done by the destructor).
  void Finish();

 private:
  void Draw(bool final);

  std::string what_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool terminal_;
  bool finished_ = false;
  int logged_tenths_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace atom
