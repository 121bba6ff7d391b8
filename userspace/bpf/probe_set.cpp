#include "bpf/probe_set.h"

#include <unistd.h>

#include <bpf/btf.h>

#include <thread>

#include "block.skel.h"
#include "proc.skel.h"
#include "sched.skel.h"
#include "sockets.skel.h"
#include "sockets_syscalls.skel.h"
#include "tcp.skel.h"
#include "util/log.h"

namespace redeye::bpf {

namespace {

std::set<std::string> refused(const ProbeSettings& settings, const std::string& object) {
  const auto it = settings.refuse_attach.find(object);
  return it == settings.refuse_attach.end() ? std::set<std::string>{} : it->second;
}

// Does the kernel's BTF describe the socket tracepoints (Linux 6.3+)?
bool kernel_has_socket_tracepoints(std::string& why_not) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) {
    why_not = "no kernel BTF";
    return false;
  }
  const bool has = btf__find_by_name_kind(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) > 0 &&
                   btf__find_by_name_kind(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) > 0;
  btf__free(vmlinux);
  if (!has) why_not = "the kernel has no sock:sock_send_length/sock_recv_length tracepoints (before 6.3)";
  return has;
}

bool attached(const LoadedObject& object, const std::string& probe) {
  for (const auto& p : object.probes())
    if (p.probe == probe && p.attached) return true;
  return false;
}

std::string refusal(const LoadedObject& object, const std::string& probe) {
  if (!object.loaded()) return "the object did not load: " + object.load_error();
  for (const auto& p : object.probes())
    if (p.probe == probe) return p.error;
  return "no such program";
}

}  // namespace

CaptureChoice capture_choice(const std::string& flag) {
  if (flag == "sockets") return CaptureChoice::SocketTracepoints;
  if (flag == "syscalls") return CaptureChoice::Syscalls;
  return CaptureChoice::Auto;
}

ProbeSet::ProbeSet(const ProbeSettings& settings)
    : sched_(std::make_unique<LoadedObject>("sched", skeleton_ops(sched_bpf__open, sched_bpf__destroy),
                                            refused(settings, "sched"))),
      block_(std::make_unique<LoadedObject>("block", skeleton_ops(block_bpf__open, block_bpf__destroy),
                                            refused(settings, "block"))),
      tcp_(std::make_unique<LoadedObject>("tcp", skeleton_ops(tcp_bpf__open, tcp_bpf__destroy),
                                          refused(settings, "tcp"))),
      proc_(std::make_unique<LoadedObject>("proc", skeleton_ops(proc_bpf__open, proc_bpf__destroy),
                                           refused(settings, "proc"))) {
  load_capture(settings);
}

void ProbeSet::load_capture(const ProbeSettings& settings) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  std::string why;
  if (settings.capture != CaptureChoice::Syscalls) {
    if (settings.capture == CaptureChoice::SocketTracepoints || kernel_has_socket_tracepoints(why)) {
      sockets_ = std::make_unique<LoadedObject>(
          "sockets",
          skeleton_ops<sockets_bpf>(sockets_bpf__open, sockets_bpf__destroy,
                                    [this, settings, self](sockets_bpf* s) {
                                      s->rodata->capture_bytes = settings.capture_bytes;
                                      s->rodata->self_tgid = self;
                                      share_tcp_owner_maps(s->maps.sk_owner, s->maps.tcp_stats, s->maps.unowned_inbound);
                                    }),
          refused(settings, "sockets"));
      if (attached(*sockets_, "sock_send_length") && attached(*sockets_, "sock_recv_length")) {
        capture_ = {"socket_tracepoints", settings.capture == CaptureChoice::Auto
                                              ? "the kernel has sock:sock_send_length and sock:sock_recv_length"
                                              : "chosen by --capture"};
        return;
      }
      why = "the socket tracepoints did not attach: " + refusal(*sockets_, "sock_send_length");
      if (settings.capture == CaptureChoice::SocketTracepoints) {
        capture_ = {"none", why};
        return;
      }
      sockets_.reset();
    }
  } else {
    why = "chosen by --capture";
  }
  sockets_ = std::make_unique<LoadedObject>(
      "sockets",
      skeleton_ops<sockets_syscalls_bpf>(sockets_syscalls_bpf__open, sockets_syscalls_bpf__destroy,
                                         [this, settings, self](sockets_syscalls_bpf* s) {
                                           s->rodata->capture_bytes = settings.capture_bytes;
                                           s->rodata->self_tgid = self;
                                           share_tcp_owner_maps(s->maps.sk_owner, s->maps.tcp_stats, s->maps.unowned_inbound);
                                         }),
      refused(settings, "sockets"));
  if (settings.capture == CaptureChoice::Auto) log_warn("capture: syscall tracepoints, because ", why);
  capture_ = {attached(*sockets_, "sys_exit") ? "syscalls" : "none", why};
}

void ProbeSet::share_tcp_owner_maps(bpf_map* sk_owner, bpf_map* tcp_stats, bpf_map* unowned_inbound) const {
  // The capture object gives accepted sockets their owner in the tcp
  // object's maps (bpf/include/redeye/tcp_owner.h). Without a loaded tcp
  // object it keeps maps of its own that nobody reads.
  if (!tcp_ || !tcp_->loaded()) return;
  for (auto [name, map] : {std::pair{"sk_owner", sk_owner}, std::pair{"tcp_stats", tcp_stats},
                           std::pair{"unowned_inbound", unowned_inbound}}) {
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
