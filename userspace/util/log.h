// Minimal leveled logging to stderr. The agent's output is read by
// journald or kubectl logs, so one line per message, prefixed "redeye:".
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace redeye {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// The level is process-wide state by nature (libbpf's print callback has no
// user pointer), so it lives behind these two functions and nowhere else.
void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view text, LogLevel& out);

void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, Args&&... args) {
  if (level < log_level()) return;
  std::ostringstream out;
  (out << ... << args);
  log_line(level, out.str());
}

template <typename... Args> void log_debug(Args&&... a) { log(LogLevel::Debug, std::forward<Args>(a)...); }
template <typename... Args> void log_info(Args&&... a) { log(LogLevel::Info, std::forward<Args>(a)...); }
template <typename... Args> void log_warn(Args&&... a) { log(LogLevel::Warn, std::forward<Args>(a)...); }
template <typename... Args> void log_error(Args&&... a) { log(LogLevel::Error, std::forward<Args>(a)...); }

}  // namespace redeye
