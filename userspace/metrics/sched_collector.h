// redeye_runqueue_latency_seconds{service_name}
#pragma once

#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "bpf/loaded_object.h"
#include "metrics/collector.h"
#include "metrics/tgid_harvester.h"
#include "redeye/abi.h"

namespace redeye::metrics {

class SchedCollector : public Collector {
 public:
  SchedCollector(prometheus::Registry& registry, const bpf::LoadedObject& sched, proc::ProcessTable& table);
  void collect() override;

 private:
  proc::ProcessTable& table_;
  prometheus::Family<prometheus::Histogram>& runqueue_;
  TgidHarvester<redeye_hist> harvester_;
};

}  // namespace redeye::metrics
