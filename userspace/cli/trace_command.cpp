// `redeye trace`: attached to the agent's control socket when one answers,
// otherwise on an in-process pipeline (the same AgentCore as `redeye run`).
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "agent/agent_core.h"
#include "cli/commands.h"
#include "cli/control_client.h"
#include "cli/shutdown_signals.h"
#include "cli/trace_options.h"
#include "trace/event_tap.h"
#include "trace/flat_json.h"
#include "util/log.h"

namespace redeye::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Prints events as lines or JSON and knows when --limit is reached.
class EventPrinter {
 public:
  explicit EventPrinter(const TraceOptions& options) : json_(options.json), limit_(options.limit) {}
  void print(const trace::TraceEvent& e) {
    if (done()) return;
    const std::string line = json_ ? trace::to_json(e) : trace::format_line(e);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    ++printed_;
  }
  bool done() const { return limit_ && printed_ >= limit_; }

 private:
  bool json_;
  uint64_t limit_;
  uint64_t printed_ = 0;
};

void report_dropped(uint64_t n) {
  if (n) std::fprintf(stderr, "redeye: %llu events dropped: this reader is too slow\n", static_cast<unsigned long long>(n));
}

class Deadline {
 public:
  explicit Deadline(double seconds)
      : active_(seconds > 0), at_(Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000))) {}
  bool passed() const { return active_ && Clock::now() >= at_; }

 private:
  bool active_;
  Clock::time_point at_;
};

int trace_attached(ControlConnection& conn, const TraceOptions& o, const ShutdownSignals& signals) {
  bool closed = false;
  const auto first = conn.read_line(5000, closed);
  if (!first || *first != "ok") {
    std::fprintf(stderr, "redeye: the agent at %s refused the trace: %s\n", o.control_socket.c_str(),
                 first ? first->c_str() : "no answer");
    return 1;
  }
  std::fprintf(stderr, "redeye: attached to agent at %s, tracing\n", o.control_socket.c_str());
  EventPrinter printer(o);
  const Deadline deadline(o.duration_seconds);
  while (!printer.done() && !deadline.passed() && !signals.pending()) {
    const auto line = conn.read_line(200, closed);
    if (closed) {
      std::fprintf(stderr, "redeye: the agent closed the connection\n");
      return 1;
    }
    if (!line) continue;
    if (line->rfind("{\"dropped\":", 0) == 0) {
      report_dropped(std::strtoull(line->c_str() + 11, nullptr, 10));
    } else if (auto e = trace::event_from_json(*line)) {
      printer.print(*e);
    }
  }
  return 0;
}

int trace_standalone(const TraceOptions& o, const ShutdownSignals& signals) {
  std::fprintf(stderr, "redeye: no agent running at %s: loading probes\n", o.control_socket.c_str());
  if (!agent::host_can_run()) return 1;
  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<agent::AgentCore> core;
  try {
    core = std::make_unique<agent::AgentCore>(standalone_run_options(o.log_level, 5.0), *registry);
  } catch (const agent::StartError& e) {
    log_error(e.what());
    return 1;
  }
  auto subscription = core->tap().subscribe(o.filter);
  core->prime();
  std::fprintf(stderr, "redeye: probes loaded, tracing\n");
  EventPrinter printer(o);
  const Deadline deadline(o.duration_seconds);
  while (!printer.done() && !deadline.passed() && !signals.pending()) {
    core->step();
    for (const auto& e : subscription->drain(SIZE_MAX)) printer.print(e);
    report_dropped(subscription->take_dropped());
  }
  core->tap().unsubscribe(subscription);
  core->detach();
  return 0;
}

}  // namespace

int run_trace(const TraceOptions& options) {
  set_log_level(options.log_level);
  ShutdownSignals signals;
  ControlConnection conn(options.control_socket, "trace " + trace::to_json(options.filter));
  if (conn.ok()) return trace_attached(conn, options, signals);
  return trace_standalone(options, signals);
}

}  // namespace redeye::cli
