// Frees the per-socket and per-call state sockets.bpf.c keeps for processes
// that have exited. A process that dies (killed, or exiting without closing
// its sockets) never makes the close() calls that delete its entries, and
// a thread killed inside an SSL call never reaches the return probe: left
// alone, those entries would sit in the maps until the LRU pushes them out,
// and the hash maps without LRU would slowly fill up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>

#include "bpf/loaded_object.h"

namespace redeye::capture {

class ExitedProcessSweeper {
 public:
  explicit ExitedProcessSweeper(const bpf::LoadedObject& sockets) : sockets_(sockets) {}

  // The process (thread group) has exited: its entries go at the next sweep.
  void on_exit(uint32_t tgid);
  // Deletes the entries of the processes reported since the last sweep;
  // returns how many. Walks the maps only when some process exited.
  size_t sweep();
  uint64_t deleted_total() const { return deleted_total_; }

 private:
  const bpf::LoadedObject& sockets_;
  std::unordered_set<uint32_t> exited_;
  uint64_t deleted_total_ = 0;
};

}  // namespace redeye::capture
