// tgid -> the labels of its series (service_name, and the pod's namespace,
// pod and container names under Kubernetes), kept fresh by exec/exit events
// and /proc scans.
//
// Kernel counters are keyed by tgid; every series is labelled by process
// labels. The table resolves each process once (at exec, or when first
// seen), keeps the answer for a while after the process exits so that late
// kernel events (a reset arriving after exit) are still attributed, and
// caps the number of distinct label sets so label cardinality stays bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proc/pod_identity.h"
#include "proc/procfs.h"
#include "proc/service_resolver.h"

namespace redeye::proc {

// The labels every per-process series carries. The k8s_* values are empty
// for processes outside Kubernetes.
struct ProcessLabels {
  std::string service_name;
  std::string k8s_namespace_name;
  std::string k8s_pod_name;
  std::string k8s_container_name;

  bool operator==(const ProcessLabels&) const = default;
  // The values joined by a byte that cannot occur in them: a map key.
  std::string key() const;
};

class ProcessTable {
 public:
  using Clock = std::chrono::steady_clock;

  // pods: names the pod of processes in Kubernetes pod cgroups; the
  // workload becomes the service unless a service rule matches.
  ProcessTable(ProcFs procfs, ServiceResolver resolver, size_t max_services,
               std::chrono::seconds exited_retention = std::chrono::seconds(120),
               std::optional<PodIdentityResolver> pods = std::nullopt);

  // Re-reads the process list: new processes are resolved, vanished ones
  // retired. Port rules are re-evaluated here, since a process listens only
  // some time after it starts.
  void scan();
  // args: the command line as the kernel saw it at exec, for processes
  // gone before /proc can be read.
  void on_exec(uint32_t tgid, const std::string& comm, const std::string& args = "");
  void on_exit(uint32_t tgid, const std::string& comm);
  // A new process: until it execs it runs its parent's program, so it
  // carries the parent's labels, even if it is gone before /proc is read.
  void on_fork(uint32_t tgid, uint32_t parent_tgid, const std::string& comm);
  // Reads the process events queued in the kernel (ProcEvents::consume):
  // called once before a tgid is looked up in /proc, since its fork or exec
  // event may sit in that queue behind the data event that named it.
  void set_catch_up(std::function<void()> catch_up) { catch_up_ = std::move(catch_up); }

  // Labels of a tgid, live or recently exited. Unknown live processes are
  // resolved on the spot; tgid 0 and the unresolvable are service "unknown".
  // The reference stays valid as long as the table: label sets are interned
  // and never removed, so per-request caches can key on its address (two
  // addresses may still hold equal labels, e.g. "other").
  const ProcessLabels& labels_of(uint32_t tgid);
  std::string service_of(uint32_t tgid) { return labels_of(tgid).service_name; }
  bool alive(uint32_t tgid) const { return live_.count(tgid) != 0; }
  std::vector<uint32_t> live_tgids() const;

  // Label sets (a service, or a pod's container) that hit the cap and were
  // folded into service "other".
  size_t services_overflowed() const { return overflowed_names_.size(); }
  size_t size() const { return live_.size(); }
  // Distinct label sets in use.
  size_t services() const { return services_.size(); }

 private:
  struct Entry {
    const ProcessLabels* labels = nullptr;  // interned: see admit
    bool final = false;  // no need to re-resolve while it lives
    // Copied from the parent at fork: right until the process execs, and
    // its exec event may still be queued (see labels_of).
    bool forked = false;
  };
  Entry resolve(uint32_t tgid, const std::string& fallback_comm, const std::string& fallback_args = "");
  // The interned copy of `labels`, or of "other" over the cap.
  const ProcessLabels* admit(ProcessLabels labels);
  void expire_exited();
  // The labels the table holds for a tgid, without reading /proc.
  const ProcessLabels* known(uint32_t tgid) const;

  ProcFs procfs_;
  ServiceResolver resolver_;
  std::optional<PodIdentityResolver> pods_;
  size_t max_services_;
  std::chrono::seconds retention_;
  uint32_t self_tgid_;
  std::unordered_map<uint32_t, Entry> live_;
  struct Exited {
    const ProcessLabels* labels;
    Clock::time_point at;
  };
  std::unordered_map<uint32_t, Exited> exited_;
  std::deque<std::pair<Clock::time_point, uint32_t>> exited_order_;
  // ProcessLabels::key() -> the admitted label set, at a stable address.
  std::unordered_map<std::string, ProcessLabels> services_;
  std::unordered_set<std::string> overflowed_names_;  // ProcessLabels::key() refused
  std::function<void()> catch_up_;
};

}  // namespace redeye::proc
