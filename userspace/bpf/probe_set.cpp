#include "bpf/probe_set.h"

#include "block.skel.h"
#include "proc.skel.h"
#include "sched.skel.h"
#include "tcp.skel.h"

namespace redeye::bpf {

ProbeSet::ProbeSet()
    : sched_(std::make_unique<LoadedObject>("sched", skeleton_ops(sched_bpf__open, sched_bpf__destroy))),
      block_(std::make_unique<LoadedObject>("block", skeleton_ops(block_bpf__open, block_bpf__destroy))),
      tcp_(std::make_unique<LoadedObject>("tcp", skeleton_ops(tcp_bpf__open, tcp_bpf__destroy))),
      proc_(std::make_unique<LoadedObject>("proc", skeleton_ops(proc_bpf__open, proc_bpf__destroy))) {}

std::vector<const LoadedObject*> ProbeSet::all() const {
  return {sched_.get(), block_.get(), tcp_.get(), proc_.get()};
}

bool ProbeSet::any_attached() const {
  for (const auto* object : all())
    for (const auto& p : object->probes())
      if (p.attached) return true;
  return false;
}

}  // namespace redeye::bpf
