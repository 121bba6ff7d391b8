// Consumes proc.bpf.c's ring buffer: exec/exit keep the process table
// fresh, OOM kills become redeye_oom_kills_total{service_name}.
#pragma once

#include <bpf/libbpf.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>

#include "bpf/loaded_object.h"
#include "proc/process_table.h"
#include "redeye/abi.h"

namespace redeye::metrics {

class ProcEvents {
 public:
  // Called for each exit before the table forgets the process, so its last
  // /proc readings can still be taken.
  using ExitHook = std::function<void(uint32_t tgid)>;

  ProcEvents(prometheus::Registry& registry, const bpf::LoadedObject& proc, proc::ProcessTable& table,
             ExitHook on_exit);
  // Handles what is queued, waiting at most timeout_ms for the first event.
  void poll(int timeout_ms);
  bool active() const { return ring_ != nullptr; }

 private:
  static int on_sample(void* ctx, void* data, size_t size);
  void handle(const redeye_proc_event& e);

  proc::ProcessTable& table_;
  ExitHook on_exit_;
  prometheus::Family<prometheus::Counter>& oom_kills_;
  std::unique_ptr<ring_buffer, decltype(&ring_buffer__free)> ring_{nullptr, ring_buffer__free};
};

}  // namespace redeye::metrics
