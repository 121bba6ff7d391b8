// Which events a `redeye trace` session wants. Applied by the event tap
// in the agent, so that filtered-out events never cross the socket.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "trace/trace_event.h"

namespace redeye::trace {

// "5xx" (a class), "404" (one code), or anything.
struct StatusMatch {
  int code = 0;   // exact code, 0 = not this kind of match
  int klass = 0;  // 1..5 for "1xx".."5xx", 0 = not this kind
  bool any() const { return code == 0 && klass == 0; }
  bool matches(const std::string& status) const;
  std::string text() const;  // as the user would write it, "" for any
};

struct TraceFilter {
  std::set<std::string> kinds;  // "http", "sql", "amqp", "tcp"; empty = all
  std::optional<uint32_t> pid;
  std::string service;  // exact service_name, "" = any
  uint64_t min_duration_ns = 0;
  StatusMatch status;
  bool errors_only = false;
  bool show_payload = false;  // statements' literals and URL queries unmasked

  bool matches(const TraceEvent& event) const;
};

// The trace kinds the command accepts, "all" being all of them.
const std::set<std::string>& trace_kinds();

// "40ms", "1s", "250us", "2m", "1.5s", "100ns"; a bare number is
// milliseconds. Throws std::invalid_argument with a message for the user.
uint64_t parse_duration_ns(std::string_view text);
// "5xx", "4XX", "404". Throws std::invalid_argument.
StatusMatch parse_status(std::string_view text);

std::string to_json(const TraceFilter& filter);
std::optional<TraceFilter> filter_from_json(std::string_view text);

}  // namespace redeye::trace
