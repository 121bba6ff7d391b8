// The agent's BPF objects, one per concern (bpf/<name>.bpf.c).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bpf/loaded_object.h"

struct sockets_bpf;

namespace redeye::bpf {

// Settings written into the programs' rodata before load.
struct ProbeSettings {
  uint32_t capture_bytes = 2048;
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

  std::vector<const LoadedObject*> all() const;
  // Detaches every object's programs at once (shutdown).
  void detach_all();
  // True when at least one probe of any object is attached.
  bool any_attached() const;

 private:
  // Before the sockets object loads: it writes accept() owners into the tcp
  // object's sk_owner and tcp_stats (bpf/include/redeye/tcp_owner.h).
  void share_tcp_owner_maps(sockets_bpf* sockets) const;

  // Declaration order is construction order: tcp before sockets.
  std::unique_ptr<LoadedObject> sched_, block_, tcp_, proc_, sockets_;
};

}  // namespace redeye::bpf
