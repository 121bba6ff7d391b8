// The agent's own health: events lost, BPF map fill, probes attached,
// build info.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "bpf/probe_set.h"
#include "metrics/collector.h"

namespace redeye::metrics {

// Where an event can be dropped, for redeye_events_lost_total{stage,reason}.
// Userspace stages report through add_lost(); all are exported from the
// start at 0 so that "nothing lost" is visible, not inferred.
enum class LostStage { Kernel, Userspace, Parser };

class SelfCollector : public Collector {
 public:
  SelfCollector(prometheus::Registry& registry, const bpf::ProbeSet& probes, std::string kernel_release);
  void collect() override;
  void add_lost(LostStage stage, const std::string& reason, uint64_t n);
  // Distinct service_name values in use, and names refused by the cap.
  void set_service_names(size_t in_use, size_t overflowed);
  // Connections left unparsed on purpose, by "protocol/reason" (cumulative).
  void set_unparsed(const std::map<std::string, uint64_t>& totals);
  // Connections in the agent's userspace table now.
  void set_tracked_connections(size_t n);
  // Losses after the kernel: parsers that lost track, connections evicted.
  // Cumulative values; the collector exports what they gained.
  void set_userspace_losses(uint64_t stream_gaps, uint64_t invalid_frames, uint64_t buffer_overflows,
                            uint64_t connections_evicted);

 private:
  void update_probes();

  const bpf::ProbeSet& probes_;
  prometheus::Family<prometheus::Counter>& lost_;
  prometheus::Family<prometheus::Gauge>& map_entries_;
  prometheus::Family<prometheus::Gauge>& map_capacity_;
  prometheus::Family<prometheus::Gauge>& probe_up_;
  prometheus::Family<prometheus::Gauge>& service_names_;
  prometheus::Family<prometheus::Counter>& unparsed_;
  prometheus::Gauge& tracked_connections_;
  std::map<std::string, uint64_t> last_unparsed_;
  std::map<uint32_t, uint64_t> last_kernel_lost_;
  std::map<std::string, uint64_t> last_userspace_lost_;
};

}  // namespace redeye::metrics
