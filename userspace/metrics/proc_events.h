// Consumes proc.bpf.c's ring buffer: exec/exit keep the process table
// fresh, OOM kills become redeye_oom_kills_total{service_name}.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>

#include "bpf/loaded_object.h"
#include "bpf/ring_poller.h"
#include "proc/process_table.h"
#include "redeye/abi.h"

namespace redeye::metrics {

class ProcEvents {
 public:
  // Called for each exit before the table forgets the process, so its last
  // /proc readings can still be taken.
  using ExitHook = std::function<void(uint32_t tgid)>;

  ProcEvents(prometheus::Registry& registry, const bpf::LoadedObject& proc, proc::ProcessTable& table,
             bpf::RingPoller& poller, ExitHook on_exit);
  bool active() const { return active_; }

 private:
  void handle(const redeye_proc_event& e);

  proc::ProcessTable& table_;
  ExitHook on_exit_;
  prometheus::Family<prometheus::Counter>& oom_kills_;
  bool active_ = false;
};

}  // namespace redeye::metrics
