#include "metrics/procfs_collector.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "proc/psi.h"

namespace redeye::metrics {

ProcfsCollector::ProcfsCollector(prometheus::Registry& registry, proc::ProcFs procfs, proc::ProcessTable& table)
    : procfs_(std::move(procfs)),
      table_(table),
      seconds_per_tick_(1.0 / static_cast<double>(proc::ProcFs::clock_ticks())),
      agent_start_ticks_(procfs_.read_stat(static_cast<int>(getpid())).value_or(proc::ProcStat{}).start_time_ticks),
      cpu_(prometheus::BuildCounter()
               .Name("redeye_process_cpu_seconds_total")
               .Help("CPU time used by the service's processes, from /proc/<pid>/stat")
               .Register(registry)),
      rss_(prometheus::BuildGauge()
               .Name("redeye_process_resident_memory_bytes")
               .Help("Resident memory of the service's processes, summed")
               .Register(registry)),
      fds_(prometheus::BuildGauge()
               .Name("redeye_process_open_fds")
               .Help("Open file descriptors of the service's processes, summed")
               .Register(registry)) {}

void ProcfsCollector::account_cpu(uint32_t tgid, const std::string& service) {
  auto stat = procfs_.read_stat(static_cast<int>(tgid));
  if (!stat) return;
  auto it = last_cpu_.find(tgid);
  if (it == last_cpu_.end()) {
    // First sight. A process born since the agent started reports all of
    // its CPU time; an older one only what it uses from now on.
    CpuTicks baseline{};
    if (stat->start_time_ticks < agent_start_ticks_) baseline = {stat->utime_ticks, stat->stime_ticks};
    it = last_cpu_.emplace(tgid, baseline).first;
  }
  CpuTicks& before = it->second;
  const uint64_t du = stat->utime_ticks > before.user ? stat->utime_ticks - before.user : 0;
  const uint64_t ds = stat->stime_ticks > before.system ? stat->stime_ticks - before.system : 0;
  if (du) cpu_.Add({{"service_name", service}, {"mode", "user"}}).Increment(du * seconds_per_tick_);
  if (ds) cpu_.Add({{"service_name", service}, {"mode", "system"}}).Increment(ds * seconds_per_tick_);
  before = {std::max(before.user, stat->utime_ticks), std::max(before.system, stat->stime_ticks)};
}

void ProcfsCollector::collect() {
  std::map<std::string, std::pair<double, double>> sums;  // service -> (rss, fds)
  for (uint32_t tgid : table_.live_tgids()) {
    const std::string service = table_.service_of(tgid);
    account_cpu(tgid, service);
    auto& [rss, fds] = sums[service];
    if (auto r = procfs_.read_rss_bytes(static_cast<int>(tgid))) rss += static_cast<double>(*r);
    if (auto f = procfs_.count_open_fds(static_cast<int>(tgid))) fds += static_cast<double>(*f);
  }
  for (auto it = last_cpu_.begin(); it != last_cpu_.end();) {
    it = table_.alive(it->first) ? std::next(it) : last_cpu_.erase(it);
  }
  for (const auto& [service, v] : sums) {
    rss_.Add({{"service_name", service}}).Set(v.first);
    fds_.Add({{"service_name", service}}).Set(v.second);
  }
  // Services with no process left drop their gauges instead of freezing.
  for (auto it = gauge_services_.begin(); it != gauge_services_.end();) {
    if (sums.count(*it)) {
      ++it;
      continue;
    }
    rss_.Remove(&rss_.Add({{"service_name", *it}}));
    fds_.Remove(&fds_.Add({{"service_name", *it}}));
    it = gauge_services_.erase(it);
  }
  for (const auto& [service, v] : sums) gauge_services_.insert(service);
}

void ProcfsCollector::on_exit(uint32_t tgid) {
  account_cpu(tgid, table_.service_of(tgid));
  last_cpu_.erase(tgid);
}

PressureCollector::PressureCollector(prometheus::Registry& registry, std::filesystem::path proc_root)
    : proc_root_(std::move(proc_root)),
      waiting_(prometheus::BuildCounter()
                   .Name("redeye_node_pressure_waiting_seconds_total")
                   .Help("Time some or all runnable tasks were stalled on a resource (PSI totals)")
                   .Register(registry)) {
  available_ = proc::read_pressure(proc_root_, "cpu").has_value();
  // Baseline: the counters report stall time since the agent started.
  for (const char* resource : {"cpu", "memory", "io"}) {
    if (auto totals = proc::read_pressure(proc_root_, resource)) {
      last_us_[std::string(resource) + "/some"] = totals->some_us;
      if (totals->full_us) last_us_[std::string(resource) + "/full"] = *totals->full_us;
    }
  }
}

void PressureCollector::collect() {
  for (const char* resource : {"cpu", "memory", "io"}) {
    auto totals = proc::read_pressure(proc_root_, resource);
    if (!totals) continue;
    auto add = [&](const char* kind, uint64_t now_us) {
      uint64_t& before = last_us_[std::string(resource) + "/" + kind];
      auto& c = waiting_.Add({{"resource", resource}, {"kind", kind}});
      if (now_us > before) c.Increment(static_cast<double>(now_us - before) * 1e-6);
      before = now_us;
    };
    add("some", totals->some_us);
    if (totals->full_us) add("full", *totals->full_us);
  }
}

}  // namespace redeye::metrics
