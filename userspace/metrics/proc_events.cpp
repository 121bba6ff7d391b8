#include "metrics/proc_events.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "metrics/process_labels.h"

namespace redeye::metrics {

ProcEvents::ProcEvents(prometheus::Registry& registry, const bpf::LoadedObject& proc, proc::ProcessTable& table,
                       bpf::RingPoller& poller, ExitHook on_exit)
    : table_(table),
      on_exit_(std::move(on_exit)),
      oom_kills_(prometheus::BuildCounter()
                     .Name("redeye_oom_kills_total")
                     .Help("Processes of the service killed by the kernel's OOM killer")
                     .Register(registry)) {
  const auto handler = [this](const void* data, size_t size) {
    if (size >= sizeof(redeye_proc_event)) handle(*static_cast<const redeye_proc_event*>(data));
  };
  active_ = poller.add(proc.map_fd("proc_events"), handler);
  if (active_ && catch_up_ring_.add(proc.map_fd("proc_events"), handler))
    table_.set_catch_up([this] { consume(); });
}

ProcEvents::~ProcEvents() {
  if (active_) table_.set_catch_up(nullptr);
}

void ProcEvents::consume() {
  if (busy_) return;
  busy_ = true;
  catch_up_ring_.consume();
  busy_ = false;
}

void ProcEvents::handle(const redeye_proc_event& e) {
  // Its lookups must not read the ring this event is being read from.
  const bool was_busy = busy_;
  busy_ = true;
  handle_event(e);
  busy_ = was_busy;
}

void ProcEvents::handle_event(const redeye_proc_event& e) {
  const std::string comm(e.comm, strnlen(e.comm, sizeof e.comm));
  switch (e.kind) {
    case REDEYE_PROC_EXEC: {
      std::string args(e.args, std::min<size_t>(e.args_len, sizeof e.args));
      for (auto& c : args)
        if (c == '\0') c = ' ';
      while (!args.empty() && args.back() == ' ') args.pop_back();
      table_.on_exec(e.tgid, comm, args);
      break;
    }
    case REDEYE_PROC_FORK:
      table_.on_fork(e.tgid, e.parent_tgid, comm);
      break;
    case REDEYE_PROC_EXIT:
      if (on_exit_) on_exit_(e.tgid);
      table_.on_exit(e.tgid, comm);
      break;
    case REDEYE_PROC_OOM_KILL:
      oom_kills_.Add(with_process(table_.labels_of(e.tgid))).Increment();
      break;
    default:
      break;
  }
}

}  // namespace redeye::metrics
