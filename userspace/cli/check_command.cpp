#include <cstdio>

#include "bpf/probe_set.h"
#include "capture/tls_attacher.h"
#include "cli/commands.h"
#include "cli/preflight.h"

namespace redeye::cli {

int run_check(const CheckOptions& options) {
  set_log_level(options.log_level);
  bpf::install_libbpf_logger();
  std::printf("kernel %s\n\n", kernel_release().c_str());

  bool can_run = true;
  bool https_allowed = true;
  for (const auto& item : run_preflight(/*mount_missing=*/false)) {
    if (item.name == "https") https_allowed = item.ok;
    const char* verdict = item.ok ? "ok" : item.required ? "FAIL" : "warn";
    std::printf("%-12s %-5s %s\n", item.name.c_str(), verdict, item.detail.c_str());
    if (!item.ok) std::printf("%-12s       fix: %s\n", "", item.fix.c_str());
    if (item.required && !item.ok) can_run = false;
  }

  std::printf("\nprobes (object:tracepoint, program)\n");
  size_t attached = 0, total = 0;
  if (can_run) {
    bpf::ProbeSettings settings;
    settings.capture = bpf::capture_choice(options.capture);
    bpf::ProbeSet probes(settings);
    capture::TlsAttacher(probes.sockets()).attach_new(capture::find_libssl());
    const auto& capture = probes.capture();
    std::printf("  %-36s %-5s %s: %s\n", "capture", capture.mode == "none" ? "FAIL" : "ok",
                capture.mode == "socket_tracepoints" ? "socket tracepoints (sock:sock_send_length, sock_recv_length)"
                : capture.mode == "syscalls"         ? "syscall tracepoints (raw sys_enter, sys_exit)"
                                                     : "none",
                capture.reason.c_str());
    for (const auto* object : probes.all()) {
      if (!object->loaded()) {
        std::printf("  %-36s FAIL  object not loaded: %s\n", (object->name() + ":*").c_str(),
                    object->load_error().c_str());
        ++total;
        continue;
      }
      size_t ssl_refused = 0;
      for (const auto& p : object->probes()) {
        ++total;
        attached += p.attached;
        // Without CAP_SYS_ADMIN every OpenSSL uprobe fails for the one
        // reason the "https" line gives: one line for them, not one each.
        if (!p.attached && !https_allowed && p.program.rfind("ssl_", 0) == 0) {
          ++ssl_refused;
          continue;
        }
        const std::string label = object->name() + ":" + p.probe;
        if (p.attached)
          std::printf("  %-36s ok    %s\n", label.c_str(), p.program.c_str());
        else
          std::printf("  %-36s FAIL  %s: %s\n", label.c_str(), p.program.c_str(), p.error.c_str());
      }
      if (ssl_refused)
        std::printf("  %-36s off   %zu OpenSSL uprobes: no CAP_SYS_ADMIN (see https above)\n",
                    (object->name() + ":ssl_*").c_str(), ssl_refused);
    }
  } else {
    std::printf("  not tried: fix the failures above first\n");
  }
  if (can_run && attached == 0) can_run = false;

  std::printf("\n%s: %zu of %zu probes attach\n", can_run ? "the agent can run" : "the agent cannot run",
              attached, total);
  if (can_run && attached < total)
    std::printf("metrics of the failed probes are missing; the others work (redeye_probe_up shows which)\n");
  return can_run ? 0 : 1;
}

}  // namespace redeye::cli
