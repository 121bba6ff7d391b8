// One line of `redeye trace`: a finished exchange (HTTP, SQL, AMQP) or a TCP
// failure, with who did it. Built by the event tap, sent over the control
// socket as one flat JSON object, printed by the trace command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace redeye::trace {

struct TraceEvent {
  uint64_t time_ns = 0;  // wall clock (Unix epoch) of the request's first byte, or of the TCP event
  uint32_t pid = 0;
  std::string service;
  std::string comm;
  std::string peer;       // "127.0.0.1:5432", "" when unknown
  std::string kind;       // "http", "sql", "amqp", "tcp"
  std::string role;       // "server", "client", "" (tcp)
  std::string operation;  // HTTP method, SQL operation, AMQP method, TCP event
  std::string target;     // HTTP path, SQL statement, AMQP exchange or queue, TCP reason
  std::string status;     // HTTP status code, SQL error type, "" when none
  bool error = false;
  uint64_t duration_ns = 0;  // 0 for TCP events
};

// "12:01:02.345678 api/4242/python3 127.0.0.1:41234 HTTP server GET /orders 200 51.3ms"
std::string format_line(const TraceEvent& event);
// "51.3ms", "812us", "1.20s"
std::string format_duration(uint64_t ns);

std::string to_json(const TraceEvent& event);
std::optional<TraceEvent> event_from_json(const std::string& line);

}  // namespace redeye::trace
