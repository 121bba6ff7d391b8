// The agent's BPF objects, one per concern (bpf/<name>.bpf.c).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bpf/loaded_object.h"

namespace redeye::bpf {

// Which hooks feed the protocol parsers (enum redeye_capture_mode).
enum class CaptureChoice {
  Auto,                // socket tracepoints where the kernel has them, else syscalls
  SocketTracepoints,   // sockets.bpf.c only
  Syscalls,            // sockets_syscalls.bpf.c only (the path for kernels before 6.3)
};

// "auto" | "sockets" | "syscalls" (the --capture flag); Auto for anything else.
CaptureChoice capture_choice(const std::string& flag);

// What was chosen, and why (redeye check, redeye_capture_info).
struct CaptureStatus {
  std::string mode;    // "socket_tracepoints" | "syscalls" | "none"
  std::string reason;
};

// Settings written into the programs' rodata before load.
struct ProbeSettings {
  uint32_t capture_bytes = 2048;
  CaptureChoice capture = CaptureChoice::Auto;
  // Probes made to fail at attach, by object (parse_fault_injection).
  std::map<std::string, std::set<std::string>> refuse_attach;
};

class ProbeSet {
 public:
  // Loads and attaches every object; refusals are recorded, never thrown.
  explicit ProbeSet(const ProbeSettings& settings = {});

  LoadedObject& sched() { return *sched_; }
  LoadedObject& block() { return *block_; }
  LoadedObject& tcp() { return *tcp_; }
  LoadedObject& proc() { return *proc_; }
  LoadedObject& sockets() { return *sockets_; }
  const CaptureStatus& capture() const { return capture_; }

  std::vector<const LoadedObject*> all() const;
  // Detaches every object's programs at once (shutdown).
  void detach_all();
  // True when at least one probe of any object is attached.
  bool any_attached() const;

 private:
  // The data capture: socket tracepoints when the kernel has them (and
  // they attach), else the syscall tracepoints.
  void load_capture(const ProbeSettings& settings);
  // Before a capture object loads: it writes accepted sockets' owners into
  // the tcp object's sk_owner and tcp_stats (bpf/include/redeye/tcp_owner.h).
  void share_tcp_owner_maps(bpf_map* sk_owner, bpf_map* tcp_stats, bpf_map* unowned_inbound) const;

  CaptureStatus capture_;

  // Declaration order is construction order: tcp before sockets.
  std::unique_ptr<LoadedObject> sched_, block_, tcp_, proc_, sockets_;
};

}  // namespace redeye::bpf
