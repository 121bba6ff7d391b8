// The agent's pipeline without its front end: probes, process table,
// collectors, parsers and the main loop's periodic work. `redeye run` wraps
// it with the HTTP listener and the control socket; `redeye trace` and
// `redeye top` build one in-process when no agent is running.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <stdexcept>
#include <vector>

#include "capture/connection_table.h"
#include "cli/options.h"

namespace redeye::trace {
class EventTap;
}

namespace redeye::agent {

// The host cannot run the probes (preflight failed, nothing attached).
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs the preflight (mounting tracefs when missing) and logs what fails;
// false when a required item is missing.
bool host_can_run();

// Consumers of every record besides the metrics and the event tap.
struct AgentTaps {
  std::vector<capture::RecordConsumer*> records;
};

class AgentCore {
 public:
  // Loads and attaches every probe and registers every metric in
  // `registry`. Throws StartError when no probe could be attached.
  AgentCore(const cli::RunOptions& options, prometheus::Registry& registry, AgentTaps taps = {});
  ~AgentCore();
  AgentCore(const AgentCore&) = delete;
  AgentCore& operator=(const AgentCore&) = delete;

  // Primes the collectors' baselines so that the first scrape reflects this
  // run only.
  void prime();
  // One turn of the main loop: reads the rings (waiting at most a poll
  // period for the first event) and runs the collections that are due.
  void step();
  // Detaches every probe at once (shutdown).
  void detach();

  size_t processes() const;
  // Records and TCP failures for `redeye trace` sessions.
  trace::EventTap& tap();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace redeye::agent
