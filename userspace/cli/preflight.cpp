#include "cli/preflight.h"

#include <sys/mount.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace redeye::cli {
namespace {

constexpr int kCapDacReadSearch = 2;
constexpr int kCapSysPtrace = 19;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

uint64_t effective_caps() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

bool has(uint64_t caps, int cap) { return (caps >> cap) & 1; }

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

}  // namespace

std::string kernel_release() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

std::vector<PreflightItem> run_preflight(bool mount_missing) {
  std::vector<PreflightItem> items;
  const uint64_t caps = effective_caps();

  {
    PreflightItem i{"btf", path_exists("/sys/kernel/btf/vmlinux"), true, "/sys/kernel/btf/vmlinux", ""};
    if (!i.ok) {
      i.detail = "/sys/kernel/btf/vmlinux not found";
      i.fix = "run a kernel built with CONFIG_DEBUG_INFO_BTF=y (all major distributions since 2020)";
    }
    items.push_back(i);
  }
  {
    const bool bpf_ok = (has(caps, kCapBpf) && has(caps, kCapPerfmon)) || has(caps, kCapSysAdmin);
    PreflightItem i{"privileges", bpf_ok, true, "", ""};
    i.detail = has(caps, kCapSysAdmin) ? "CAP_SYS_ADMIN"
               : bpf_ok               ? "CAP_BPF, CAP_PERFMON"
                                      : std::string("missing") + (has(caps, kCapBpf) ? "" : " CAP_BPF") +
                                          (has(caps, kCapPerfmon) ? "" : " CAP_PERFMON");
    if (!bpf_ok)
      i.fix = "run as root, or grant CAP_BPF and CAP_PERFMON (plus CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH for "
              "/proc), e.g. AmbientCapabilities= in the systemd unit";
    items.push_back(i);
  }
  {
    // Required: without them processes of other users cannot be named
    // (exe, cmdline rules, cgroups, fds), and their series would silently
    // land in "unknown" instead.
    const bool ok = has(caps, kCapSysPtrace) && has(caps, kCapDacReadSearch);
    PreflightItem i{"proc-access", ok, true,
                    ok ? "CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH"
                       : std::string("missing") + (has(caps, kCapSysPtrace) ? "" : " CAP_SYS_PTRACE") +
                             (has(caps, kCapDacReadSearch) ? "" : " CAP_DAC_READ_SEARCH"),
                    ""};
    if (!i.ok)
      i.fix = "grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH so executables, fds and sockets of other users' "
              "processes can be read";
    items.push_back(i);
  }
  {
    // Not required: only the OpenSSL uprobes need it. perf_event_open of a
    // uprobe answers EACCES without CAP_SYS_ADMIN on the kernels tested,
    // CAP_PERFMON notwithstanding; the ssl probes' own errors say only
    // "Permission denied", so this line says why (docs/threat-model.md).
    const bool ok = has(caps, kCapSysAdmin);
    PreflightItem i{"https", ok, false,
                    ok ? "CAP_SYS_ADMIN: OpenSSL uprobes allowed"
                       : "no CAP_SYS_ADMIN: the OpenSSL uprobes (sockets:ssl_*) are refused without it, so HTTPS "
                         "through libssl is not parsed",
                    ""};
    if (!ok)
      i.fix = "grant CAP_SYS_ADMIN only if HTTPS capture is wanted (Helm: capture.https=true); every other probe "
              "works without it";
    items.push_back(i);
  }
  {
    fs::path events = "/sys/kernel/tracing/events";
    bool ok = path_exists(events) || path_exists("/sys/kernel/debug/tracing/events");
    std::string detail = ok ? "/sys/kernel/tracing" : "not mounted";
    if (!ok && mount_missing) {
      if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0) {
        ok = path_exists(events);
        detail = "mounted /sys/kernel/tracing";
      } else {
        detail = std::string("not mounted, and mounting failed: ") + std::strerror(errno);
      }
    }
    PreflightItem i{"tracefs", ok, false, detail, ""};
    if (!ok)
      i.fix = "mount -t tracefs tracefs /sys/kernel/tracing (classic tracepoints need it; tp_btf and raw "
              "tracepoints do not)";
    items.push_back(i);
  }
  {
    std::ifstream mounts("/proc/self/mounts");
    bool ok = false;
    for (std::string line; std::getline(mounts, line);)
      if (line.find(" /sys/fs/bpf bpf ") != std::string::npos) ok = true;
    PreflightItem i{"bpffs", ok, false, ok ? "/sys/fs/bpf" : "not mounted", ""};
    if (!ok) i.fix = "optional today: mount -t bpf bpf /sys/fs/bpf";
    items.push_back(i);
  }
  {
    bool ok = path_exists("/proc/pressure/cpu");
    PreflightItem i{"psi", ok, false, ok ? "/proc/pressure" : "not available", ""};
    if (!ok) i.fix = "boot with psi=1 (CONFIG_PSI) for redeye_node_pressure_waiting_seconds_total";
    items.push_back(i);
  }
  return items;
}

}  // namespace redeye::cli
