// tgid -> service_name, kept fresh by exec/exit events and /proc scans.
//
// Kernel counters are keyed by tgid; every series is labelled by service.
// The table resolves each process once (at exec, or when first seen), keeps
// the answer for a while after the process exits so that late kernel events
// (a reset arriving after exit) are still attributed, and caps the number
// of distinct service names so label cardinality stays bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proc/procfs.h"
#include "proc/service_resolver.h"

namespace redeye::proc {

class ProcessTable {
 public:
  using Clock = std::chrono::steady_clock;

  ProcessTable(ProcFs procfs, ServiceResolver resolver, size_t max_services,
               std::chrono::seconds exited_retention = std::chrono::seconds(120));

  // Re-reads the process list: new processes are resolved, vanished ones
  // retired. Port rules are re-evaluated here, since a process listens only
  // some time after it starts.
  void scan();
  // args: the command line as the kernel saw it at exec, for processes
  // gone before /proc can be read.
  void on_exec(uint32_t tgid, const std::string& comm, const std::string& args = "");
  void on_exit(uint32_t tgid, const std::string& comm);

  // Service of a tgid, live or recently exited. Unknown live processes are
  // resolved on the spot; tgid 0 and the unresolvable are "unknown".
  std::string service_of(uint32_t tgid);
  bool alive(uint32_t tgid) const { return live_.count(tgid) != 0; }
  std::vector<uint32_t> live_tgids() const;

  // Service names that hit the cap and were folded into "other".
  size_t services_overflowed() const { return overflowed_names_.size(); }
  size_t size() const { return live_.size(); }
  size_t services() const { return services_.size(); }

 private:
  struct Entry {
    std::string service;
    bool final = false;  // no need to re-resolve while it lives
  };
  Entry resolve(uint32_t tgid, const std::string& fallback_comm, const std::string& fallback_args = "");
  std::string admit(const std::string& service);
  void expire_exited();

  ProcFs procfs_;
  ServiceResolver resolver_;
  size_t max_services_;
  std::chrono::seconds retention_;
  uint32_t self_tgid_;
  std::unordered_map<uint32_t, Entry> live_;
  struct Exited {
    std::string service;
    Clock::time_point at;
  };
  std::unordered_map<uint32_t, Exited> exited_;
  std::deque<std::pair<Clock::time_point, uint32_t>> exited_order_;
  std::unordered_set<std::string> services_;
  std::unordered_set<std::string> overflowed_names_;
};

}  // namespace redeye::proc
