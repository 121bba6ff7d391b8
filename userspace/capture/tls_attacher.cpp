#include "capture/tls_attacher.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <system_error>

#include "util/log.h"

namespace fs = std::filesystem;

namespace redeye::capture {
namespace {

bool is_libssl(const std::string& name) { return name.rfind("libssl.so", 0) == 0; }

// Entry (program, function, return probe) for each OpenSSL call we read.
struct Hook {
  const char* program;
  const char* function;
  bool retprobe;
};
constexpr Hook kHooks[] = {
    {"ssl_write_enter", "SSL_write", false},       {"ssl_exit_ret", "SSL_write", true},
    {"ssl_read_enter", "SSL_read", false},         {"ssl_exit_ret", "SSL_read", true},
    {"ssl_write_ex_enter", "SSL_write_ex", false}, {"ssl_exit_ret", "SSL_write_ex", true},
    {"ssl_read_ex_enter", "SSL_read_ex", false},   {"ssl_exit_ret", "SSL_read_ex", true},
    {"ssl_handshake_enter", "SSL_do_handshake", false}, {"ssl_handshake_exit", "SSL_do_handshake", true},
};

}  // namespace

std::vector<std::string> find_libssl(const fs::path& proc_root) {
  std::vector<std::string> found;
  std::set<std::pair<dev_t, ino_t>> files;
  auto consider = [&](const fs::path& p) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (files.insert({st.st_dev, st.st_ino}).second) found.push_back(p.string());
  };
  std::error_code ec;
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                          "/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib", "/usr/local/lib64"}) {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (is_libssl(it->path().filename().string())) consider(fs::canonical(it->path(), ec));
  }
  // Libraries of running processes, containers included (their own root).
  // Not the agent's own: its traffic is never traced, and the libssl.so it
  // maps for a TLS listener is a compatibility shim without SSL_read
  // (exporters/prometheus/civetweb_tls/).
  const std::string self = std::to_string(getpid());
  for (fs::directory_iterator it(proc_root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string pid = it->path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
    std::ifstream maps(it->path() / "maps");
    for (std::string line; std::getline(maps, line);) {
      const auto slash = line.find('/');
      if (slash == std::string::npos || line.find("libssl.so") == std::string::npos) continue;
      const fs::path lib = line.substr(slash);
      if (is_libssl(lib.filename().string())) consider(it->path() / "root" / lib.relative_path());
    }
  }
  return found;
}

void TlsAttacher::switch_on() {
  // The capture looks for SSL calls in flight only once some uprobe can
  // make them (capture.h: ssl_switch): until then a socket call costs no
  // lookup for it.
  const int fd = sockets_.map_fd("ssl_switch");
  const uint32_t key = 0, on = 1;
  if (fd >= 0 && bpf_map_update_elem(fd, &key, &on, BPF_ANY) != 0)
    log_warn("tls: cannot switch the SSL lookup on: ", std::strerror(errno));
}

size_t TlsAttacher::attach_new(const std::vector<std::string>& libraries) {
  size_t added = 0;
  for (const auto& lib : libraries) {
    struct stat st {};
    if (stat(lib.c_str(), &st) != 0 || !seen_.insert({st.st_dev, st.st_ino}).second) continue;
    size_t hooked = 0;
    std::string error;
    for (const auto& hook : kHooks) {
      // SSL_*_ex exist from OpenSSL 1.1.1 on; a library without them still
      // gets the plain calls.
      if (sockets_.attach_uprobe(hook.program, lib, hook.function, hook.retprobe, error)) ++hooked;
      else log_debug("tls: ", lib, ": ", hook.function, ": ", error);
    }
    if (hooked) {
      ++added;
      switch_on();
      log_info("tls: reading plaintext of ", lib, " (", hooked, " hooks)");
    } else if (error.find("Permission denied") != std::string::npos) {
      // No CAP_SYS_ADMIN: the preflight's "https" line has said so once
      // already; one more line per library would only repeat it.
      log_debug("tls: cannot attach to ", lib, ": ", error);
    } else {
      log_warn("tls: cannot attach to ", lib, ": ", error);
    }
  }
  return added;
}

}  // namespace redeye::capture
