#include "metrics/sched_collector.h"

#include "metrics/histogram_buckets.h"
#include "metrics/process_labels.h"

namespace redeye::metrics {

SchedCollector::SchedCollector(prometheus::Registry& registry, const bpf::LoadedObject& sched,
                               proc::ProcessTable& table)
    : table_(table),
      runqueue_(prometheus::BuildHistogram()
                    .Name("redeye_runqueue_latency_seconds")
                    .Help("Time runnable threads waited for a CPU (wakeup or preemption to on-CPU), per service")
                    .Register(registry)),
      harvester_(sched.map_fd("runq_hist"), 65536) {}

void SchedCollector::collect() {
  harvester_.harvest(table_, [&](const proc::ProcessLabels& process, const redeye_hist& delta) {
    runqueue_.Add(with_process(process), latency_bounds())
        .ObserveMultiple(bucket_increments(delta), sum_seconds(delta));
  });
}

}  // namespace redeye::metrics
