// Logging to stderr. Tools set the level from -v / --log-disable; libraries only call Log().
#pragma once

#include <cstdio>

namespace mla {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kNone = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void LogLine(LogLevel level, const char* text);

template <typename... Args>
void Log(LogLevel level, const char* fmt, Args... args) {
  if (level < GetLogLevel()) return;
  char buf[2048];
  std::snprintf(buf, sizeof buf, fmt, args...);
  LogLine(level, buf);
}

}  // namespace mla
