// Remembers the prometheus-cpp series of each label set already seen, so
// that a hot path (one record per request) does not build a label map and
// search a family each time. Series are never removed from these families,
// so the references stay valid; the cache is bounded by the families' own
// label caps.
#pragma once

#include <cstdint>
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
