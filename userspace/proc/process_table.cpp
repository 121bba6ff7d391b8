#include "proc/process_table.h"

#include <unistd.h>

namespace redeye::proc {
namespace {
constexpr size_t kMaxExited = 16384;
constexpr size_t kMaxOverflowNames = 65536;
constexpr int kKthreadd = 2;  // parent of every kernel thread
}

ProcessTable::ProcessTable(ProcFs procfs, ServiceResolver resolver, size_t max_services,
                           std::chrono::seconds exited_retention)
    : procfs_(std::move(procfs)),
      resolver_(std::move(resolver)),
      max_services_(max_services),
      retention_(exited_retention),
      self_tgid_(static_cast<uint32_t>(getpid())) {}

std::string ProcessTable::admit(const std::string& service) {
  if (services_.count(service)) return service;
  if (services_.size() >= max_services_) {
    // count distinct names, not lookups; the set itself is bounded too
    if (overflowed_names_.size() < kMaxOverflowNames) overflowed_names_.insert(service);
    return "other";
  }
  services_.insert(service);
  return service;
}

ProcessTable::Entry ProcessTable::resolve(uint32_t tgid, const std::string& fallback_comm,
                                          const std::string& fallback_args) {
  Entry e;
  if (tgid == self_tgid_) {
    // Our own command line contains every --service rule: never match it.
    e.service = admit("redeye");
    e.final = true;
    return e;
  }
  ProcessIdentity id;
  const int pid = static_cast<int>(tgid);
  if (auto stat = procfs_.read_stat(pid); stat && (pid == kKthreadd || stat->ppid == kKthreadd)) {
    // Kernel threads (kworker/u8:0-events...) would each be a service.
    e.service = admit("kernel");
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
  e.service = admit(resolver_.resolve(id));
  // A rule or unit match will not change while the process lives; the
  // fallbacks may (a port rule matches once the process listens).
  e.final = !resolver_.needs_ports();
  return e;
}

void ProcessTable::scan() {
  std::unordered_set<uint32_t> seen;
  for (int pid : procfs_.list_tgids()) {
    const auto tgid = static_cast<uint32_t>(pid);
    seen.insert(tgid);
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
  std::string service;
  if (it != live_.end()) {
    service = it->second.service;
    live_.erase(it);
  } else {
    // Never seen alive (started and ended between two scans): the kernel's
    // comm is all that is left to name it by.
    ProcessIdentity id;
    id.comm = comm;
    service = comm.empty() ? "unknown" : admit(resolver_.resolve(id));
  }
  const auto now = Clock::now();
  exited_[tgid] = Exited{service, now};
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

std::string ProcessTable::service_of(uint32_t tgid) {
  if (tgid == 0) return "unknown";
  if (auto it = live_.find(tgid); it != live_.end()) return it->second.service;
  if (auto it = exited_.find(tgid); it != exited_.end()) return it->second.service;
  // First sight of a live process between scans.
  if (!procfs_.read_comm(static_cast<int>(tgid)).empty()) {
    auto [it, inserted] = live_.emplace(tgid, resolve(tgid, ""));
    return it->second.service;
  }
  return "unknown";
}

std::vector<uint32_t> ProcessTable::live_tgids() const {
  std::vector<uint32_t> out;
  out.reserve(live_.size());
  for (const auto& [tgid, e] : live_) out.push_back(tgid);
  return out;
}

}  // namespace redeye::proc
