#include "convert/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace mla::convert {

Progress::Progress(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)), total_(total_bytes), enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { Finish(); }

std::string Progress::Bytes(double n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (n >= 1000.0 && u < 4) {
    n /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", n, units[u]);
  return buf;
}

std::string Progress::Duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

void Progress::Add(uint64_t bytes, const std::string& what) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  done_ += bytes;
  what_ = what;
  Draw(false);
}

void Progress::Finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  Draw(true);
}

void Progress::Draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double frac = total_ ? double(done_) / double(total_) : 1.0;
  const int decile = int(frac * 10);
  if (!final) {
    if (tty_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    if (!tty_ && decile == last_decile_) return;
  }
  last_draw_ = now;
  last_decile_ = decile;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? double(done_) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - std::min(done_, total_)) / rate : -1;
  constexpr int kWidth = 30;
  char bar[kWidth + 1];
  const int fill = int(frac * kWidth);
  for (int i = 0; i < kWidth; ++i) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  bar[kWidth] = 0;
  std::string what = what_.size() > 40 ? what_.substr(0, 40) : what_;
  std::fprintf(stderr, "%s%s [%s] %3d%% %s / %s  %s/s  %s %s  %-40s%s", tty_ ? "\r" : "", label_.c_str(), bar,
               int(frac * 100), Bytes(double(done_)).c_str(), Bytes(double(total_)).c_str(),
               Bytes(rate).c_str(), final ? "took" : "ETA", Duration(final ? elapsed : eta).c_str(),
               final ? "" : what.c_str(), (final || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace mla::convert
