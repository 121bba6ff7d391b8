#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "agent/agent_core.h"
#include "agent/control_server.h"
#include "cli/commands.h"
#include "cli/shutdown_signals.h"
#include "exporters/prometheus/http_exporter.h"
#include "util/log.h"

namespace redeye::cli {

int run_agent(const RunOptions& options) {
  set_log_level(options.log_level);
  ShutdownSignals signals;  // before any thread exists

  if (!agent::host_can_run()) {
    log_error("cannot start; 'redeye check' lists what this host offers");
    return 1;
  }

  // Bind first: a taken port should fail in milliseconds, not after loading.
  auto registry = std::make_shared<prometheus::Registry>();
  exporters::HealthState health;
  health.tick();
  std::unique_ptr<exporters::HttpExporter> exporter;
  try {
    exporter = std::make_unique<exporters::HttpExporter>(
        exporters::ListenerOptions{options.listen, options.basic_auth_file, options.max_scrapes,
                                   {options.tls_cert_file, options.tls_key_file}},
        registry, health);
  } catch (const std::runtime_error& e) {  // ListenError, BasicAuthError, TlsError
    log_error(e.what());
    return 1;
  }

  std::unique_ptr<agent::AgentCore> core;
  try {
    core = std::make_unique<agent::AgentCore>(options, *registry);
  } catch (const agent::StartError& e) {
    log_error(e.what());
    return 1;
  }

  log_info("serving metrics on ", options.tls_cert_file.empty() ? "http://" : "https://", options.listen, "/metrics (", core->processes(), " processes, ",
           options.service_rules.size(), " service rules)");

  // trace and top attach here instead of loading the probes a second time
  std::unique_ptr<agent::ControlServer> control;
  if (!options.control_socket.empty()) {
    try {
      control = std::make_unique<agent::ControlServer>(options.control_socket, core->tap(), registry);
    } catch (const agent::ControlSocketError& e) {
      log_warn(e.what(), "; 'redeye trace' and 'redeye top' will not attach to this agent");
    }
  }

  core->prime();
  health.ready = true;

  int signo = 0;
  while ((signo = signals.pending()) == 0) {
    core->step();
    health.tick();
  }
  log_info("received ", strsignal(signo), ": detaching and exiting");
  health.ready = false;
  core->detach();
  return 0;
}

}  // namespace redeye::cli
