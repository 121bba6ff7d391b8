// The agent's BPF objects, one per concern (bpf/<name>.bpf.c).
#pragma once

#include <memory>
#include <vector>

#include "bpf/loaded_object.h"

namespace redeye::bpf {

class ProbeSet {
 public:
  // Loads and attaches every object; refusals are recorded, never thrown.
  ProbeSet();

  LoadedObject& sched() { return *sched_; }
  LoadedObject& block() { return *block_; }
  LoadedObject& tcp() { return *tcp_; }
  LoadedObject& proc() { return *proc_; }

  std::vector<const LoadedObject*> all() const;
  // True when at least one probe of any object is attached.
  bool any_attached() const;

 private:
  std::unique_ptr<LoadedObject> sched_, block_, tcp_, proc_;
};

}  // namespace redeye::bpf
