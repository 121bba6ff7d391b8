#include "agent/agent_core.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "agent/tcp_event.h"
#include "bpf/probe_set.h"
#include "bpf/ring_poller.h"
#include "capture/exited_process_sweeper.h"
#include "capture/tls_attacher.h"
#include "cli/preflight.h"
#include "metrics/block_collector.h"
#include "metrics/amqp/amqp_metrics.h"
#include "metrics/db/db_metrics.h"
#include "metrics/http/http_metrics.h"
#include "metrics/proc_events.h"
#include "metrics/procfs_collector.h"
#include "metrics/sched_collector.h"
#include "metrics/self_collector.h"
#include "metrics/tcp_collector.h"
#include "proc/process_table.h"
#include "protocols/protocol.h"
#include "trace/event_tap.h"
#include "util/log.h"

namespace redeye::agent {
namespace {

using Clock = std::chrono::steady_clock;

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

std::vector<capture::RecordConsumer*> joined(std::vector<capture::RecordConsumer*> metrics,
                                             const std::vector<capture::RecordConsumer*>& taps) {
  metrics.insert(metrics.end(), taps.begin(), taps.end());
  return metrics;
}

bpf::ProbeSet& load_probes(bpf::ProbeSet& probes) {
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
  if (!probes.any_attached()) throw StartError("no probe could be attached; run 'redeye check' for the reasons");
  return probes;
}

bpf::ProbeSettings probe_settings(const cli::RunOptions& options) {
  bpf::ProbeSettings settings{options.capture_bytes, bpf::capture_choice(options.capture)};
  settings.refuse_attach = bpf::parse_fault_injection(std::getenv(bpf::kFaultInjectionVariable));
  return settings;
}

const char* connect_failure_reason(uint8_t r) {
  switch (r) {
    case REDEYE_CONNFAIL_REFUSED: return "refused";
    case REDEYE_CONNFAIL_TIMEOUT: return "timeout";
    case REDEYE_CONNFAIL_UNREACHABLE: return "unreachable";
    default: return "other";
  }
}

TcpEvent to_tcp_event(const redeye_tcp_event& raw) {
  TcpEvent e;
  e.time_ns = raw.timestamp_ns;
  e.tgid = raw.tgid;
  e.local_port = raw.local_port;
  switch (raw.kind) {
    case REDEYE_TCP_CONNECT_FAILED:
      e.event = "connect_failed";
      e.reason = connect_failure_reason(raw.reason);
      break;
    case REDEYE_TCP_RESET_SENT: e.event = "reset_sent"; break;
    case REDEYE_TCP_RESET_RECEIVED: e.event = "reset_received"; break;
    case REDEYE_TCP_RETRANSMIT: e.event = "retransmit"; break;
    default: e.event = "unknown"; break;
  }
  char addr[INET6_ADDRSTRLEN] = "";
  if (raw.family == AF_INET) {
    inet_ntop(AF_INET, raw.peer_addr, addr, sizeof addr);
    e.peer = std::string(addr) + ":" + std::to_string(raw.peer_port);
  } else if (raw.family == AF_INET6) {
    inet_ntop(AF_INET6, raw.peer_addr, addr, sizeof addr);
    e.peer = "[" + std::string(addr) + "]:" + std::to_string(raw.peer_port);
  }
  return e;
}

}  // namespace

bool host_can_run() {
  bool ok = true;
  for (const auto& item : cli::run_preflight(/*mount_missing=*/true)) {
    if (item.ok) continue;
    if (item.required) {
      log_error(item.name, ": ", item.detail, "; ", item.fix);
      ok = false;
    } else {
      log_warn(item.name, ": ", item.detail, "; ", item.fix);
    }
  }
  return ok;
}

struct AgentCore::Parts {
  Parts(const cli::RunOptions& options, prometheus::Registry& registry, const AgentTaps& taps)
      : options(options),
        probes((bpf::install_libbpf_logger(), probe_settings(options))),
        table(proc::ProcFs(), proc::ServiceResolver(options.service_rules), options.max_services,
              std::chrono::seconds(120), proc::PodIdentityResolver(options.cgroup_root, options.pod_log_root)),
        table_scanned((table.scan(), true)),
        self(registry, load_probes(probes), cli::kernel_release()),
        sched(registry, probes.sched(), table),
        block(registry, probes.block(), table),
        tcp(registry, probes.tcp(), table),
        procfs(registry, proc::ProcFs(), table),
        pressure(registry),
        http(registry, table, options.http),
        db(registry, table),
        amqp(registry, table),
        tap(table),
        consumers(joined({&http, &db, &amqp, &tap}, taps.records)),
        connections(protocol_registry, consumers),
        tls(probes.sockets()),
        data_ring_added(add_data_ring()),
        sweeper(probes.sockets()),
        events(registry, probes.proc(), table, poller, [this](uint32_t tgid) {
          procfs.on_exit(tgid);
          exited.push_back(tgid);
          sweeper.on_exit(tgid);
        }) {
  }

  bool add_data_ring() {
    protocols::register_builtin_protocols(protocol_registry,
                                          protocols::ProtocolOptions{options.http.source_header});
    tls.attach_new(capture::find_libssl());
    poller.add(probes.tcp().map_fd("tcp_events"), [this](const void* data, size_t size) { on_tcp_event(data, size); });
    tap.set_tcp_switch([fd = probes.tcp().map_fd("tcp_events_on")](bool on) { switch_tcp_events(fd, on); });
    return poller.add(probes.sockets().map_fd("data_events"),
                      [this](const void* data, size_t size) { connections.on_event(data, size); });
  }

  void on_tcp_event(const void* data, size_t size) {
    if (size < sizeof(redeye_tcp_event)) return;
    redeye_tcp_event raw;
    std::memcpy(&raw, data, sizeof raw);
    tap.on_tcp_event(to_tcp_event(raw));
  }

  // The kernel writes TCP events only while a trace session wants them.
  static void switch_tcp_events(int map_fd, bool on) {
    const uint32_t key = 0, value = on ? 1 : 0;
    if (map_fd >= 0 && bpf_map_update_elem(map_fd, &key, &value, BPF_ANY) != 0)
      log_warn("cannot switch TCP trace events ", on ? "on" : "off", ": ", std::strerror(errno));
  }

  cli::RunOptions options;
  bpf::ProbeSet probes;
  proc::ProcessTable table;
  bool table_scanned;
  metrics::SelfCollector self;
  metrics::SchedCollector sched;
  metrics::BlockCollector block;
  metrics::TcpCollector tcp;
  metrics::ProcfsCollector procfs;
  metrics::PressureCollector pressure;
  bpf::RingPoller poller;
  metrics::http::HttpMetrics http;
  protocols::ProtocolRegistry protocol_registry;
  metrics::db::DbMetrics db;
  metrics::amqp::AmqpMetrics amqp;
  trace::EventTap tap;
  capture::ConsumerFanout consumers;
  capture::ConnectionTable connections;
  capture::TlsAttacher tls;
  bool data_ring_added;
  // A process's last data events sit in another ring than its exit event
  // and may be read after it: its connections end once both rings are read.
  std::vector<uint32_t> exited;
  capture::ExitedProcessSweeper sweeper;
  metrics::ProcEvents events;
  std::vector<metrics::Collector*> kernel_collectors{&sched, &block, &tcp, &self};
  std::vector<metrics::Collector*> proc_collectors{&procfs, &pressure};
  Clock::time_point next_kernel, next_proc, next_tls_scan;
};

AgentCore::AgentCore(const cli::RunOptions& options, prometheus::Registry& registry, AgentTaps taps)
    : parts_(std::make_unique<Parts>(options, registry, taps)) {}

AgentCore::~AgentCore() = default;

size_t AgentCore::processes() const { return parts_->table.size(); }

trace::EventTap& AgentCore::tap() { return parts_->tap; }

void AgentCore::prime() {
  auto& p = *parts_;
  for (auto* c : p.proc_collectors) c->collect();
  for (auto* c : p.kernel_collectors) c->collect();
  const auto now = Clock::now();
  p.next_kernel = now + to_ms(p.options.interval_seconds);
  p.next_proc = now + to_ms(p.options.proc_interval_seconds);
  p.next_tls_scan = now + kTlsScanInterval;
}

void AgentCore::step() {
  auto& p = *parts_;
  // Data events do not wake us (see sockets.bpf.c): this timeout is how
  // often they are read when traffic is light.
  p.poller.poll(kPollMs);
  for (uint32_t tgid : p.exited) p.connections.on_process_exit(tgid);
  p.exited.clear();
  const auto now = Clock::now();
  if (now >= p.next_proc) {
    p.table.scan();
    for (auto* c : p.proc_collectors) c->collect();
    if (now >= p.next_tls_scan) {
      // new containers may bring their own libssl
      p.tls.attach_new(capture::find_libssl());
      p.next_tls_scan = now + kTlsScanInterval;
    }
    p.self.set_service_names(p.table.services(), p.table.services_overflowed());
    p.next_proc = now + to_ms(p.options.proc_interval_seconds);
  }
  if (now >= p.next_kernel) {
    p.sweeper.sweep();
    for (auto* c : p.kernel_collectors) c->collect();
    p.connections.expire_idle(monotonic_ns(), kIdleConnectionNs);
    const auto& cs = p.connections.stats();
    p.self.set_userspace_losses(cs.stream_gaps, cs.invalid_frames, cs.buffer_overflows, cs.connections_evicted);
    p.self.set_unparsed(cs.unparsed);
    p.self.set_tracked_connections(p.connections.size());
    p.next_kernel = now + to_ms(p.options.interval_seconds);
  }
}

void AgentCore::detach() { parts_->probes.detach_all(); }

}  // namespace redeye::agent
