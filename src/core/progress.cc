#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/logging.h"

namespace atom {

namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 30;

double Gb(uint64_t bytes) { return double(bytes) / 1e9; }

}  // namespace

Progress::Progress(std::string what, uint64_t total)
    : what_(std::move(what)),
      total_(total),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

void Progress::Update(uint64_t done) {
  done_ = std::min(done, total_);
  if (std::chrono::steady_clock::now() - last_draw_ >= kRedrawInterval) Draw(false);
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  Draw(true);
}

void Progress::Draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  const double fraction = total_ == 0 ? 1.0 : double(done_) / double(total_);
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const std::string numbers =
      fmt::format("{:5.1f}% {:.2f}/{:.2f} GB {:.1f} GB/s", 100 * fraction, Gb(done_), Gb(total_),
                  seconds > 0 ? Gb(done_) / seconds : 0.0);
  if (terminal_) {
    const int filled = int(fraction * kBarWidth);
    std::fprintf(stderr, "\r%s [%s%s] %s%s", what_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kBarWidth - filled, ' ').c_str(), numbers.c_str(), final ? "\n" : "");
    std::fflush(stderr);
    return;
  }
  const int tenths = int(fraction * 10);
  if (tenths > logged_tenths_ || (final && tenths < 10)) {
    logged_tenths_ = tenths;
    ATOM_LOG_INFO("{}: {}", what_, numbers);
  }
}

}  // namespace atom
