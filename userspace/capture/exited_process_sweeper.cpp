#include "capture/exited_process_sweeper.h"

#include <bpf/bpf.h>

#include <vector>

#include "bpf/map_reader.h"

namespace redeye::capture {
namespace {

// Deletes the entries of a u64-keyed map whose owner (tgid), taken from the
// key or the value, is in `exited`.
template <bool kOwnerInValue>
size_t delete_owned_by(bpf_map* map, const std::unordered_set<uint32_t>& exited) {
  if (!map) return 0;
  const int fd = bpf_map__fd(map);
  std::vector<uint64_t> doomed;
  if constexpr (kOwnerInValue) {
    bpf::for_each_entry<uint64_t, uint64_t>(fd, bpf_map__max_entries(map), [&](uint64_t key, uint64_t value) {
      if (exited.count(static_cast<uint32_t>(value >> 32))) doomed.push_back(key);
    });
  } else {
    for (uint64_t key : bpf::map_keys<uint64_t>(fd, bpf_map__max_entries(map)))
      if (exited.count(static_cast<uint32_t>(key >> 32))) doomed.push_back(key);
  }
  size_t deleted = 0;
  for (uint64_t key : doomed)
    if (bpf_map_delete_elem(fd, &key) == 0) ++deleted;
  return deleted;
}

}  // namespace

void ExitedProcessSweeper::on_exit(uint32_t tgid) {
  // Bounded: a sweep runs every --interval and empties the set.
  if (exited_.size() < 65536) exited_.insert(tgid);
}

size_t ExitedProcessSweeper::sweep() {
  if (exited_.empty() || !sockets_.loaded()) {
    exited_.clear();
    return 0;
  }
  size_t deleted = 0;
  // Keyed by pid_tgid in both captures: calls in flight.
  for (const char* name : {"ssl_calls", "mmsg_cursors", "in_flight"})
    deleted += delete_owned_by<false>(sockets_.map(name), exited_);
  // The syscall capture keys connections by tgid << 32 | fd, and ssl_conn
  // maps SSL objects to such keys. The socket capture keys them by socket,
  // which outlives a process that passed it on: those go at TCP_CLOSE or
  // with the LRU.
  if (sockets_.map("in_flight")) {
    for (const char* name : {"conns", "not_tcp"}) deleted += delete_owned_by<false>(sockets_.map(name), exited_);
    deleted += delete_owned_by<true>(sockets_.map("ssl_conn"), exited_);
  }
  exited_.clear();
  deleted_total_ += deleted;
  return deleted;
}

}  // namespace redeye::capture
