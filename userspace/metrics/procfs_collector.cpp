#include "metrics/procfs_collector.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "metrics/process_labels.h"
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

void ProcfsCollector::account_cpu(uint32_t tgid, const proc::ProcessLabels& process) {
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
  if (du) cpu_.Add(with_process(process, {{"mode", "user"}})).Increment(du * seconds_per_tick_);
  if (ds) cpu_.Add(with_process(process, {{"mode", "system"}})).Increment(ds * seconds_per_tick_);
  before = {std::max(before.user, stat->utime_ticks), std::max(before.system, stat->stime_ticks)};
}

void ProcfsCollector::collect() {
  struct Sums {
    proc::ProcessLabels labels;
    double rss = 0, fds = 0;
  };
  std::map<std::string, Sums> sums;  // by ProcessLabels::key()
  for (uint32_t tgid : table_.live_tgids()) {
    proc::ProcessLabels process = table_.labels_of(tgid);
    account_cpu(tgid, process);
    auto& [labels, rss, fds] = sums[process.key()];
    labels = std::move(process);
    if (auto r = procfs_.read_rss_bytes(static_cast<int>(tgid))) rss += static_cast<double>(*r);
    if (auto f = procfs_.count_open_fds(static_cast<int>(tgid))) fds += static_cast<double>(*f);
  }
  for (auto it = last_cpu_.begin(); it != last_cpu_.end();) {
    it = table_.alive(it->first) ? std::next(it) : last_cpu_.erase(it);
  }
  for (const auto& [key, v] : sums) {
    rss_.Add(with_process(v.labels)).Set(v.rss);
    fds_.Add(with_process(v.labels)).Set(v.fds);
  }
  // Label sets with no process left (a service gone, a pod deleted) drop
  // their gauges instead of freezing.
  for (auto it = gauge_labels_.begin(); it != gauge_labels_.end();) {
    if (sums.count(it->first)) {
      ++it;
      continue;
    }
    rss_.Remove(&rss_.Add(with_process(it->second)));
    fds_.Remove(&fds_.Add(with_process(it->second)));
    it = gauge_labels_.erase(it);
  }
  for (const auto& [key, v] : sums) gauge_labels_.emplace(key, v.labels);
}

void ProcfsCollector::on_exit(uint32_t tgid) {
  account_cpu(tgid, table_.labels_of(tgid));
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
