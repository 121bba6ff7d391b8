// Remembers the prometheus-cpp series of each label set already seen, so
// that a hot path (one record per request) does not build a label map and
// search a family each time. Series are never removed from these families,
// so the references stay valid; the cache is bounded by the families' own
// label caps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace redeye::metrics {

template <typename Metric>
class SeriesCache {
 public:
  // key: the label values joined by a byte that cannot occur in them.
  template <typename Make>
  Metric& get(const std::string& key, Make&& make) {
    auto it = series_.find(key);
    if (it != series_.end()) return *it->second;
    Metric& m = make();
    series_.emplace(key, &m);
    return m;
  }

 private:
  std::unordered_map<std::string, Metric*> series_;
};

// A SeriesCache for the per-request path that builds and hashes no string
// to look up: keyed by the process's interned label set
// (ProcessTable::labels_of's address), a code for labels that are small
// numbers or known words (a method's index, a status) and at most one
// free-text label value, also interned: a view that LabelCap::admit_view
// returned, whose address is the same for every request of the process
// that has that value and stays valid as long as the cap. Bounded as
// SeriesCache is: by the label sets the table admits, the codes, and the
// caps on the text values.
template <typename Metric>
class ProcessSeriesCache {
 public:
  template <typename Make>
  Metric& get(const void* process, uint64_t code, std::string_view interned_text, Make&& make) {
    const Key key{process, code, interned_text.data(), interned_text.size()};
    auto it = series_.find(key);
    if (it != series_.end()) return *it->second;
    Metric& m = make();
    series_.emplace(key, &m);
    return m;
  }
  size_t size() const { return series_.size(); }

 private:
  struct Key {
    const void* process;
    uint64_t code;
    const char* text;
    size_t text_size;
    bool operator==(const Key&) const = default;
  };
  struct Hash {
    size_t operator()(const Key& k) const {
      size_t h = std::hash<const void*>{}(k.text) ^ k.text_size;
      h ^= std::hash<const void*>{}(k.process) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      h ^= std::hash<uint64_t>{}(k.code) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      return h;
    }
  };
  std::unordered_map<Key, Metric*, Hash> series_;
};

// "a\x1fb\x1fc": label values are printable, so 0x1f never occurs in them.
template <typename... Parts>
std::string series_key(const Parts&... parts) {
  std::string key;
  ((key.append(std::string_view(parts)), key.push_back('\x1f')), ...);
  return key;
}

// Duration of a record in seconds (its times are CLOCK_MONOTONIC ns).
inline double seconds_between(uint64_t start_ns, uint64_t end_ns) {
  return end_ns > start_ns ? static_cast<double>(end_ns - start_ns) * 1e-9 : 0.0;
}

}  // namespace redeye::metrics
