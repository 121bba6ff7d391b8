// Per-service CPU seconds, resident memory and open fds from /proc, and
// node pressure (PSI).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <map>
#include <unordered_map>

#include "metrics/collector.h"
#include "proc/process_table.h"

namespace redeye::metrics {

class ProcfsCollector : public Collector {
 public:
  ProcfsCollector(prometheus::Registry& registry, proc::ProcFs procfs, proc::ProcessTable& table);
  void collect() override;
  // Takes a process's final CPU reading (its /proc entry survives until it
  // is reaped) so the time since the previous collect is not lost.
  void on_exit(uint32_t tgid);

 private:
  struct CpuTicks {
    uint64_t user = 0, system = 0;
  };
  void account_cpu(uint32_t tgid, const proc::ProcessLabels& process);

  proc::ProcFs procfs_;
  proc::ProcessTable& table_;
  double seconds_per_tick_;
  uint64_t agent_start_ticks_;
  prometheus::Family<prometheus::Counter>& cpu_;
  prometheus::Family<prometheus::Gauge>& rss_;
  prometheus::Family<prometheus::Gauge>& fds_;
  std::unordered_map<uint32_t, CpuTicks> last_cpu_;
  // ProcessLabels::key() -> labels of the memory and fd gauges set
  std::map<std::string, proc::ProcessLabels> gauge_labels_;
};

class PressureCollector : public Collector {
 public:
  PressureCollector(prometheus::Registry& registry, std::filesystem::path proc_root = "/proc");
  void collect() override;
  bool available() const { return available_; }

 private:
  std::filesystem::path proc_root_;
  prometheus::Family<prometheus::Counter>& waiting_;
  std::unordered_map<std::string, uint64_t> last_us_;
  bool available_ = false;
};

}  // namespace redeye::metrics
