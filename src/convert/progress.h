// A progress bar for long conversions: bytes done of the total, throughput and ETA, on stderr.
// On a terminal it redraws one line; otherwise it prints a line every 10 %. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace mla::convert {

class Progress {
 public:
  Progress(std::string label, uint64_t total_bytes, bool enabled);
  ~Progress();
  // `bytes` more are done; `what` (e.g. the tensor name) is shown next to the bar.
  void Add(uint64_t bytes, const std::string& what);
  void Finish();

  // "1.23 GB", "512.0 MB", "37 B"
  static std::string Bytes(double n);
  // "1:02:03", "4:05"
  static std::string Duration(double seconds);

 private:
  void Draw(bool final);
  std::mutex mu_;
  std::string label_, what_;
  uint64_t total_ = 0, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace mla::convert
