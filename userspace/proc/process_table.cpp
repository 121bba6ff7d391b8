#include "proc/process_table.h"

#include <unistd.h>

namespace redeye::proc {
namespace {
constexpr size_t kMaxExited = 16384;
constexpr size_t kMaxOverflowNames = 65536;
constexpr int kKthreadd = 2;  // parent of every kernel thread

// Label sets that need no admission, at addresses that outlive any table.
const ProcessLabels& unknown_labels() {
  static const ProcessLabels labels{"unknown", "", "", ""};
  return labels;
}
const ProcessLabels& other_labels() {
  static const ProcessLabels labels{"other", "", "", ""};
  return labels;
}
}

std::string ProcessLabels::key() const {
  std::string key;
  key.reserve(service_name.size() + k8s_namespace_name.size() + k8s_pod_name.size() + k8s_container_name.size() + 4);
  for (const std::string* part : {&service_name, &k8s_namespace_name, &k8s_pod_name, &k8s_container_name}) {
    key += *part;
    key.push_back('\x1f');  // never in a service, namespace, pod or container name
  }
  return key;
}

ProcessTable::ProcessTable(ProcFs procfs, ServiceResolver resolver, size_t max_services,
                           std::chrono::seconds exited_retention, std::optional<PodIdentityResolver> pods)
    : procfs_(std::move(procfs)),
      resolver_(std::move(resolver)),
      pods_(std::move(pods)),
      max_services_(max_services),
      retention_(exited_retention),
      self_tgid_(static_cast<uint32_t>(getpid())) {}

// The cap counts label sets, so that pods (each with its own pod name)
// are bounded as services are.
const ProcessLabels* ProcessTable::admit(ProcessLabels labels) {
  std::string key = labels.key();
  if (auto it = services_.find(key); it != services_.end()) return &it->second;
  if (services_.size() >= max_services_) {
    // count distinct label sets, not lookups; the set itself is bounded too
    if (overflowed_names_.size() < kMaxOverflowNames) overflowed_names_.insert(std::move(key));
    return &other_labels();
  }
  return &services_.emplace(std::move(key), std::move(labels)).first->second;
}

ProcessTable::Entry ProcessTable::resolve(uint32_t tgid, const std::string& fallback_comm,
                                          const std::string& fallback_args) {
  Entry e;
  if (tgid == self_tgid_) {
    // Our own command line contains every --service rule: never match it.
    e.labels = admit({"redeye"});
    e.final = true;
    return e;
  }
  ProcessIdentity id;
  const int pid = static_cast<int>(tgid);
  if (auto stat = procfs_.read_stat(pid); stat && (pid == kKthreadd || stat->ppid == kKthreadd)) {
    // Kernel threads (kworker/u8:0-events...) would each be a service.
    e.labels = admit({"kernel"});
    e.final = true;
    return e;
  }
  id.comm = procfs_.read_comm(pid);
  if (id.comm.empty()) id.comm = fallback_comm;
  id.exe_name = procfs_.read_exe_name(pid);
  id.cmdline = procfs_.read_cmdline(pid);
  if (id.cmdline.empty()) id.cmdline = fallback_args;
  id.cgroup = procfs_.read_cgroup(pid);
  if (resolver_.needs_ports()) id.listening_ports = procfs_.listening_ports(pid);
  PodLookup pod;
  if (pods_) pod = pods_->resolve(id.cgroup);
  ProcessLabels labels;
  if (pod.identity) {
    id.k8s_workload = pod.identity->workload;
    labels.k8s_namespace_name = pod.identity->namespace_name;
    labels.k8s_pod_name = pod.identity->pod_name;
    labels.k8s_container_name = pod.identity->container_name;
  }
  labels.service_name = resolver_.resolve(id);
  e.labels = admit(std::move(labels));
  // A rule or unit match will not change while the process lives; the
  // fallbacks may (a port rule matches once the process listens), and so
  // may a pod the kubelet's log directory did not show yet.
  e.final = !resolver_.needs_ports() && pod.final;
  return e;
}

void ProcessTable::scan() {
  std::unordered_set<uint32_t> seen;
  // Queued exits first: a process that exited but is not reaped yet is
  // still listed, as a zombie with no command line to resolve it by.
  if (catch_up_) catch_up_();
  for (int pid : procfs_.list_tgids()) {
    const auto tgid = static_cast<uint32_t>(pid);
    seen.insert(tgid);
    if (exited_.count(tgid)) continue;  // that zombie: its exit named it
    auto it = live_.find(tgid);
    if (it == live_.end()) {
      live_.emplace(tgid, resolve(tgid, ""));
    } else if (!it->second.final) {
      it->second = resolve(tgid, "");
    }
  }
  std::vector<uint32_t> gone;
  for (const auto& [tgid, entry] : live_)
    if (!seen.count(tgid)) gone.push_back(tgid);
  for (auto tgid : gone) on_exit(tgid, "");
  expire_exited();
}

void ProcessTable::on_exec(uint32_t tgid, const std::string& comm, const std::string& args) {
  exited_.erase(tgid);
  live_[tgid] = resolve(tgid, comm, args);
}

void ProcessTable::on_exit(uint32_t tgid, const std::string& comm) {
  auto it = live_.find(tgid);
  const ProcessLabels* labels = nullptr;
  if (it != live_.end()) {
    labels = it->second.labels;
    live_.erase(it);
  } else {
    // Never seen alive (started and ended between two scans): the kernel's
    // comm is all that is left to name it by.
    ProcessIdentity id;
    id.comm = comm;
    labels = comm.empty() ? &unknown_labels() : admit({resolver_.resolve(id)});
  }
  const auto now = Clock::now();
  exited_[tgid] = Exited{labels, now};
  exited_order_.emplace_back(now, tgid);
  expire_exited();
}

void ProcessTable::expire_exited() {
  const auto now = Clock::now();
  while (!exited_order_.empty() &&
         (exited_order_.front().first + retention_ < now || exited_order_.size() > kMaxExited)) {
    const auto [at, tgid] = exited_order_.front();
    exited_order_.pop_front();
    // A reused tgid that exited again later has a newer entry: keep it.
    auto it = exited_.find(tgid);
    if (it != exited_.end() && it->second.at == at) exited_.erase(it);
  }
}

void ProcessTable::on_fork(uint32_t tgid, uint32_t parent_tgid, const std::string& comm) {
  exited_.erase(tgid);  // a reused tgid: the old process's labels are not this one's
  if (tgid == self_tgid_) return;
  // The parent's labels win over an entry a scan or a lookup made since the
  // fork: that /proc read may have been of the child as a zombie.
  if (auto it = live_.find(parent_tgid); it != live_.end()) {
    Entry child = it->second;
    child.final = false;
    child.forked = true;
    live_[tgid] = child;
    return;
  }
  // A parent the table has not met (started between two scans): read the
  // child, alive at this point more often than not.
  if (!live_.count(tgid)) live_.emplace(tgid, resolve(tgid, comm));
}

const ProcessLabels* ProcessTable::known(uint32_t tgid) const {
  if (auto it = live_.find(tgid); it != live_.end()) return it->second.labels;
  if (auto it = exited_.find(tgid); it != exited_.end()) return it->second.labels;
  return nullptr;
}

const ProcessLabels& ProcessTable::labels_of(uint32_t tgid) {
  if (tgid == 0) return unknown_labels();
  // A tgid never met, or one still carrying its parent's labels: its fork or
  // exec event may be queued behind the event that brought us here.
  const auto it = live_.find(tgid);
  if (catch_up_ && (it == live_.end() ? !exited_.count(tgid) : it->second.forked)) catch_up_();
  if (const auto* labels = known(tgid)) return *labels;
  // First sight of a live process between scans.
  if (!procfs_.read_comm(static_cast<int>(tgid)).empty()) {
    auto [it, inserted] = live_.emplace(tgid, resolve(tgid, ""));
    return *it->second.labels;
  }
  return unknown_labels();
}

std::vector<uint32_t> ProcessTable::live_tgids() const {
  std::vector<uint32_t> out;
  out.reserve(live_.size());
  for (const auto& [tgid, e] : live_) out.push_back(tgid);
  return out;
}

}  // namespace redeye::proc
