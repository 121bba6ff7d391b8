// Finds the OpenSSL libraries processes use and attaches the TLS uprobes
// of sockets.bpf.c to them. Uprobes on a library file reach every process
// that maps it, including processes started later.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/loaded_object.h"

namespace redeye::capture {

// libssl files on the host and in the mount namespaces of running
// processes (through /proc/<pid>/root), one path per distinct file.
std::vector<std::string> find_libssl(const std::filesystem::path& proc_root = "/proc");

class TlsAttacher {
 public:
  explicit TlsAttacher(bpf::LoadedObject& sockets) : sockets_(sockets) {}
  // Attaches to libraries not seen before; returns how many were new.
  size_t attach_new(const std::vector<std::string>& libraries);
  size_t attached_libraries() const { return seen_.size(); }

 private:
  void switch_on();
  bpf::LoadedObject& sockets_;
  std::set<std::pair<dev_t, ino_t>> seen_;
};

}  // namespace redeye::capture
