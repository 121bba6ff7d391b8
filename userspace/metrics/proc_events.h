// Consumes proc.bpf.c's ring buffer: fork/exec/exit keep the process table
// fresh, OOM kills become redeye_oom_kills_total{service_name}.
//
// The ring is read twice over: by the agent's poller with the others (its
// events wake the loop, so an exit is handled while the process is still a
// zombie whose final CPU time can be read), and by a poller of its own
// whenever the table meets a tgid it does not know or one that forked: a
// process's fork and exec events are written before any of its data events,
// so reading this ring then names every process that sent data, however
// short-lived. Both read the same ring (one consumer position, in the
// map), never at once: both run on the agent's thread, and a handler
// never reads the ring again.
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
  ~ProcEvents();
  ProcEvents(const ProcEvents&) = delete;
  ProcEvents& operator=(const ProcEvents&) = delete;
  bool active() const { return active_; }
  // Handles the events queued now. Does nothing when called from one of
  // its own handlers (an exit's or an OOM kill's lookup of a tgid).
  void consume();

 private:
  void handle(const redeye_proc_event& e);
  void handle_event(const redeye_proc_event& e);

  proc::ProcessTable& table_;
  ExitHook on_exit_;
  prometheus::Family<prometheus::Counter>& oom_kills_;
  bpf::RingPoller catch_up_ring_;
  bool active_ = false;
  bool busy_ = false;  // inside consume() or a handler
};

}  // namespace redeye::metrics
