// Options of `redeye trace` and `redeye top`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/options.h"
#include "trace/trace_filter.h"

namespace redeye::cli {

// Where `redeye run` listens for trace and top, unless --control-socket.
constexpr const char* kDefaultControlSocket = "/run/redeye/redeye.sock";

struct TraceOptions {
  trace::TraceFilter filter;
  bool json = false;
  uint64_t limit = 0;            // events printed before exiting; 0 = no limit
  double duration_seconds = 0;   // exit after this long; 0 = until interrupted
  std::string control_socket = kDefaultControlSocket;
  LogLevel log_level = LogLevel::Warn;
};

struct TopOptions {
  std::string control_socket = kDefaultControlSocket;
  double refresh_seconds = 1.0;
  std::string sort = "rps";  // a column key, see top/top_table.h
  LogLevel log_level = LogLevel::Warn;
};

// Throw UsageError or HelpRequested.
TraceOptions parse_trace_options(const std::vector<std::string>& args);
TopOptions parse_top_options(const std::vector<std::string>& args);

// The options of a standalone pipeline (no agent running): the agent's
// defaults, with the given log level.
RunOptions standalone_run_options(LogLevel level, double proc_interval_seconds);

}  // namespace redeye::cli
