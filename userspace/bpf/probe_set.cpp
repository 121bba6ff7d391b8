#include "bpf/probe_set.h"

#include <unistd.h>

#include <thread>

#include "block.skel.h"
#include "proc.skel.h"
#include "sched.skel.h"
#include "sockets.skel.h"
#include "tcp.skel.h"
#include "util/log.h"

namespace redeye::bpf {

namespace {

std::set<std::string> refused(const ProbeSettings& settings, const std::string& object) {
  const auto it = settings.refuse_attach.find(object);
  return it == settings.refuse_attach.end() ? std::set<std::string>{} : it->second;
}

}  // namespace

ProbeSet::ProbeSet(const ProbeSettings& settings)
    : sched_(std::make_unique<LoadedObject>("sched", skeleton_ops(sched_bpf__open, sched_bpf__destroy),
                                            refused(settings, "sched"))),
      block_(std::make_unique<LoadedObject>("block", skeleton_ops(block_bpf__open, block_bpf__destroy),
                                            refused(settings, "block"))),
      tcp_(std::make_unique<LoadedObject>("tcp", skeleton_ops(tcp_bpf__open, tcp_bpf__destroy),
                                          refused(settings, "tcp"))),
      proc_(std::make_unique<LoadedObject>("proc", skeleton_ops(proc_bpf__open, proc_bpf__destroy),
                                           refused(settings, "proc"))),
      sockets_(std::make_unique<LoadedObject>(
          "sockets",
          skeleton_ops<sockets_bpf>(sockets_bpf__open, sockets_bpf__destroy,
                                    [this, settings](sockets_bpf* s) {
                                      s->rodata->capture_bytes = settings.capture_bytes;
                                      s->rodata->self_tgid = static_cast<uint32_t>(getpid());
                                      share_tcp_owner_maps(s);
                                    }),
          refused(settings, "sockets"))) {}

void ProbeSet::share_tcp_owner_maps(sockets_bpf* sockets) const {
  // The sockets object gives accepted sockets their owner in the tcp
  // object's maps (bpf/include/redeye/tcp_owner.h). Without a loaded tcp
  // object it keeps maps of its own that nobody reads.
  if (!tcp_ || !tcp_->loaded()) return;
  for (auto [name, map] : {std::pair{"sk_owner", sockets->maps.sk_owner}, std::pair{"tcp_stats", sockets->maps.tcp_stats}}) {
    const int fd = tcp_->map_fd(name);
    if (fd >= 0 && bpf_map__reuse_fd(map, fd) != 0)
      log_warn("sockets: cannot share the tcp object's map ", name, "; accepted connections go unowned");
  }
}

std::vector<const LoadedObject*> ProbeSet::all() const {
  return {sched_.get(), block_.get(), tcp_.get(), proc_.get(), sockets_.get()};
}

void ProbeSet::detach_all() {
  std::vector<std::thread> workers;
  for (auto* object : {sched_.get(), block_.get(), tcp_.get(), proc_.get(), sockets_.get()})
    workers.emplace_back([object] { object->detach(); });
  for (auto& w : workers) w.join();
}

bool ProbeSet::any_attached() const {
  for (const auto* object : all())
    for (const auto& p : object->probes())
      if (p.attached) return true;
  return false;
}

}  // namespace redeye::bpf
