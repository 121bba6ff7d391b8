// Reading BPF maps from userspace: iteration, entry counts, per-CPU sums.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace redeye::bpf {

// Every key of a hash map. Keys are collected first and values read after,
// so deleting entries while walking is safe. Bounded by max_entries.
template <typename K>
std::vector<K> map_keys(int fd, size_t max_entries) {
  std::vector<K> keys;
  K key{}, next{};
  const void* prev = nullptr;
  while (keys.size() <= max_entries && bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

template <typename K, typename V, typename Fn>
void for_each_entry(int fd, size_t max_entries, Fn&& fn) {
  for (const K& key : map_keys<K>(fd, max_entries)) {
    V value{};
    if (bpf_map_lookup_elem(fd, &key, &value) == 0) fn(key, value);
  }
}

// Number of entries in a hash map (walks the keys; cheap for our sizes).
inline size_t count_entries(const bpf_map* map) {
  const int fd = bpf_map__fd(map);
  const size_t key_size = bpf_map__key_size(map);
  const size_t limit = bpf_map__max_entries(map);
  std::vector<unsigned char> key(key_size), next(key_size);
  size_t n = 0;
  const void* prev = nullptr;
  while (n <= limit && bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key.swap(next);
    prev = key.data();
  }
  return n;
}

// Sum over CPUs of one slot of a per-CPU array of u64.
inline uint64_t percpu_sum(int fd, uint32_t index) {
  int ncpu = libbpf_num_possible_cpus();
  if (fd < 0 || ncpu <= 0) return 0;
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  if (bpf_map_lookup_elem(fd, &index, values.data()) != 0) return 0;
  uint64_t sum = 0;
  for (auto v : values) sum += v;
  return sum;
}

}  // namespace redeye::bpf
