#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include "bpf/probe_set.h"
#include "bpf/ring_poller.h"
#include "capture/connection_table.h"
#include "capture/tls_attacher.h"
#include "metrics/db/db_metrics.h"
#include "metrics/http/http_metrics.h"
#include "protocols/protocol.h"
#include "cli/commands.h"
#include "cli/preflight.h"
#include "exporters/prometheus/http_exporter.h"
#include "metrics/block_collector.h"
#include "metrics/proc_events.h"
#include "metrics/procfs_collector.h"
#include "metrics/sched_collector.h"
#include "metrics/self_collector.h"
#include "metrics/tcp_collector.h"
#include "proc/process_table.h"
#include "util/log.h"

namespace redeye::cli {
namespace {

using Clock = std::chrono::steady_clock;

// SIGTERM/SIGINT are blocked in every thread and read from a signalfd by
// the main loop, so shutdown runs the normal destructors (links detached).
class ShutdownSignals {
 public:
  ShutdownSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~ShutdownSignals() {
    if (fd_ >= 0) close(fd_);
  }
  // The signal received, or 0.
  int pending() const {
    signalfd_siginfo info{};
    if (fd_ >= 0 && read(fd_, &info, sizeof info) == sizeof info) return static_cast<int>(info.ssi_signo);
    return 0;
  }

 private:
  int fd_ = -1;
};

// A connection with no traffic for this long is forgotten (its fd may have
// been closed in a way the kernel side did not see, e.g. by exit).
constexpr uint64_t kIdleConnectionNs = 15ULL * 60 * 1000000000;

constexpr std::chrono::seconds kTlsScanInterval{60};
constexpr int kPollMs = 20;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

int run_agent(const RunOptions& options) {
  set_log_level(options.log_level);
  ShutdownSignals signals;  // before any thread exists

  bool fatal = false;
  for (const auto& item : run_preflight(/*mount_missing=*/true)) {
    if (item.ok) continue;
    if (item.required) {
      log_error(item.name, ": ", item.detail, "; ", item.fix);
      fatal = true;
    } else {
      log_warn(item.name, ": ", item.detail, "; ", item.fix);
    }
  }
  if (fatal) {
    log_error("cannot start; 'redeye check' lists what this host offers");
    return 1;
  }

  // Bind first: a taken port should fail in milliseconds, not after loading.
  auto registry = std::make_shared<prometheus::Registry>();
  exporters::HealthState health;
  health.tick();
  std::unique_ptr<exporters::HttpExporter> exporter;
  try {
    exporter = std::make_unique<exporters::HttpExporter>(options.listen, registry, health);
  } catch (const exporters::ListenError& e) {
    log_error(e.what());
    return 1;
  }

  bpf::install_libbpf_logger();
  bpf::ProbeSet probes(bpf::ProbeSettings{options.capture_bytes});
  for (const auto* object : probes.all()) {
    if (!object->loaded()) {
      log_warn("probe object '", object->name(), "' not loaded: ", object->load_error());
      continue;
    }
    for (const auto& p : object->probes()) {
      if (p.attached) log_debug("attached ", object->name(), ":", p.probe, " (", p.program, ")");
      else if (p.program.rfind("ssl_", 0) != 0) log_warn("probe ", object->name(), ":", p.probe, " not attached: ", p.error);
    }
  }
  if (!probes.any_attached()) {
    log_error("no probe could be attached; run 'redeye check' for the reasons");
    return 1;
  }

  proc::ProcessTable table(proc::ProcFs(), proc::ServiceResolver(options.service_rules), options.max_services);
  table.scan();

  metrics::SelfCollector self(*registry, probes, kernel_release());
  metrics::SchedCollector sched(*registry, probes.sched(), table);
  metrics::BlockCollector block(*registry, probes.block(), table);
  metrics::TcpCollector tcp(*registry, probes.tcp(), table);
  metrics::ProcfsCollector procfs(*registry, proc::ProcFs(), table);
  metrics::PressureCollector pressure(*registry);
  bpf::RingPoller poller;
  metrics::http::HttpMetrics http(*registry, table, options.http);
  protocols::ProtocolRegistry protocol_registry;
  protocols::register_builtin_protocols(protocol_registry, protocols::ProtocolOptions{options.http.source_header});
  metrics::db::DbMetrics db(*registry, table);
  capture::ConsumerFanout consumers({&http, &db});
  capture::ConnectionTable connections(protocol_registry, consumers);
  capture::TlsAttacher tls(probes.sockets());
  tls.attach_new(capture::find_libssl());
  poller.add(probes.sockets().map_fd("data_events"),
             [&](const void* data, size_t size) { connections.on_event(data, size); });
  // A process's last data events sit in another ring than its exit event
  // and may be read after it: its connections end once both rings are read.
  std::vector<uint32_t> exited;
  metrics::ProcEvents events(*registry, probes.proc(), table, poller, [&](uint32_t tgid) {
    procfs.on_exit(tgid);
    exited.push_back(tgid);
  });
  std::vector<metrics::Collector*> kernel_collectors{&sched, &block, &tcp, &self};
  std::vector<metrics::Collector*> proc_collectors{&procfs, &pressure};

  log_info("serving metrics on http://", options.listen, "/metrics (", table.size(), " processes, ",
           options.service_rules.size(), " service rules)");

  // Prime the baselines so the first scrape reflects this run only.
  for (auto* c : proc_collectors) c->collect();
  for (auto* c : kernel_collectors) c->collect();
  health.ready = true;

  const auto interval = to_ms(options.interval_seconds);
  const auto proc_interval = to_ms(options.proc_interval_seconds);
  auto next_kernel = Clock::now() + interval, next_proc = Clock::now() + proc_interval;
  auto next_tls_scan = Clock::now() + kTlsScanInterval;
  int signo = 0;
  while ((signo = signals.pending()) == 0) {
    // Data events do not wake us (see sockets.bpf.c): this timeout is how
    // often they are read when traffic is light.
    poller.poll(kPollMs);
    for (uint32_t tgid : exited) connections.on_process_exit(tgid);
    exited.clear();
    health.tick();
    const auto now = Clock::now();
    if (now >= next_proc) {
      table.scan();
      for (auto* c : proc_collectors) c->collect();
      if (now >= next_tls_scan) {
        // new containers may bring their own libssl
        tls.attach_new(capture::find_libssl());
        next_tls_scan = now + kTlsScanInterval;
      }
      self.set_service_names(table.services(), table.services_overflowed());
      next_proc = now + proc_interval;
    }
    if (now >= next_kernel) {
      for (auto* c : kernel_collectors) c->collect();
      connections.expire_idle(monotonic_ns(), kIdleConnectionNs);
      const auto& cs = connections.stats();
      self.set_userspace_losses(cs.stream_gaps, cs.invalid_frames, cs.buffer_overflows, cs.connections_evicted);
      self.set_unparsed(cs.unparsed);
      next_kernel = now + interval;
    }
  }
  log_info("received ", strsignal(signo), ": detaching and exiting");
  health.ready = false;
  probes.detach_all();
  return 0;
}

}  // namespace redeye::cli
