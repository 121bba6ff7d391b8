// Turns per-tgid kernel counters into increments per process label set.
//
// The kernel keeps monotonic counters per tgid (it cannot know services).
// Each harvest adds what every tgid gained since the previous harvest to
// that tgid's labels (service and pod), then deletes the entries of processes that have
// exited so the map does not fill up. Values are structs of u64 counters,
// subtracted field by field.
#pragma once

#include <bpf/bpf.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "bpf/map_reader.h"
#include "proc/process_table.h"

namespace redeye::metrics {

template <typename V>
class TgidHarvester {
  static_assert(sizeof(V) % sizeof(uint64_t) == 0 && std::is_trivially_copyable_v<V>,
                "values must be plain structs of u64 counters");

 public:
  using Apply = std::function<void(const proc::ProcessLabels& process, const V& delta)>;

  TgidHarvester(int map_fd, size_t max_entries) : fd_(map_fd), max_entries_(max_entries) {}

  void harvest(proc::ProcessTable& table, const Apply& apply) {
    if (fd_ < 0) return;
    for (uint32_t tgid : bpf::map_keys<uint32_t>(fd_, max_entries_)) {
      V now{};
      if (bpf_map_lookup_elem(fd_, &tgid, &now) != 0) continue;
      V& before = last_[tgid];
      V delta = subtract(now, before);
      before = now;
      if (!is_zero(delta)) apply(table.labels_of(tgid), delta);
      if (tgid != 0 && !table.alive(tgid)) {
        // A late event may recreate it; it is then harvested from zero.
        bpf_map_delete_elem(fd_, &tgid);
        last_.erase(tgid);
      }
    }
  }

 private:
  static V subtract(const V& a, const V& b) {
    constexpr size_t n = sizeof(V) / sizeof(uint64_t);
    uint64_t x[n], y[n], d[n];
    std::memcpy(x, &a, sizeof(V));
    std::memcpy(y, &b, sizeof(V));
    for (size_t i = 0; i < n; ++i) d[i] = x[i] >= y[i] ? x[i] - y[i] : x[i];
    V out;
    std::memcpy(&out, d, sizeof(V));
    return out;
  }
  static bool is_zero(const V& v) {
    static const V zero{};
    return std::memcmp(&v, &zero, sizeof(V)) == 0;
  }

  int fd_;
  size_t max_entries_;
  std::unordered_map<uint32_t, V> last_;
};

}  // namespace redeye::metrics
