#include "util/log.h"

#include <atomic>
#include <cstdio>

namespace redeye {
namespace {
std::atomic<int>& level_storage() {
  static std::atomic<int> level{static_cast<int>(LogLevel::Info)};
  return level;
}
}  // namespace

void set_log_level(LogLevel level) { level_storage() = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(level_storage().load()); }

bool parse_log_level(std::string_view text, LogLevel& out) {
  if (text == "debug") out = LogLevel::Debug;
  else if (text == "info") out = LogLevel::Info;
  else if (text == "warn") out = LogLevel::Warn;
  else if (text == "error") out = LogLevel::Error;
  else return false;
  return true;
}

void log_line(LogLevel level, std::string_view message) {
  static constexpr const char* names[] = {"debug", "info", "warn", "error"};
  std::fprintf(stderr, "redeye: %s: %.*s\n", names[static_cast<int>(level)],
               static_cast<int>(message.size()), message.data());
}

}  // namespace redeye
