// A bound on the distinct values one label takes per value of another label,
// e.g. at most N routes per service: one service answering every random path
// must not grow the metric families (and the agent's memory) without end.
// The first values seen are kept; later new values share one overflow value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace redeye::metrics::http {

class LabelCap {
 public:
  // max_keys keys get a set of their own; keys beyond that share one set, so
  // at most (max_keys + 1) * max_per_key values are held.
  LabelCap(size_t max_keys, size_t max_per_key, std::string overflow_value = "_other");

  // The label value to report for (key, value): value itself if it was
  // admitted before for this key or the key still has room, else the
  // overflow value. The overflow value itself is always returned unchanged
  // and takes no room. Not thread-safe: one LabelCap per aggregating thread.
  std::string admit(std::string_view key, std::string_view value);
  // The same without a copy: a view of the value as the cap holds it (or of
  // the overflow value), valid as long as the cap.
  std::string_view admit_view(std::string_view key, std::string_view value);

  // admit() calls answered with the overflow value (where there was no room).
  uint64_t overflowed() const { return overflowed_; }
  // admit() calls whose key got no set of its own and used the shared one.
  uint64_t key_overflowed() const { return key_overflowed_; }
  // Keys with a set of their own (at most max_keys).
  size_t keys() const { return values_by_key_.size(); }
  const std::string& overflow_value() const { return overflow_value_; }

 private:
  // Hashes std::string and std::string_view alike, so admit() looks up
  // without building a std::string for values it has already seen.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using ValueSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

  ValueSet& values_of(std::string_view key);
  // The set of the key asked for last: requests come in runs of one service,
  // and comparing its name is cheaper than hashing it. Sets keep their
  // address (map nodes), and a key never changes sets.
  ValueSet* last_values_ = nullptr;
  std::string last_key_;

  size_t max_keys_;
  size_t max_per_key_;
  std::string overflow_value_;
  std::unordered_map<std::string, ValueSet, StringHash, std::equal_to<>> values_by_key_;
  ValueSet overflow_key_values_;
  uint64_t overflowed_ = 0;
  uint64_t key_overflowed_ = 0;
};

}  // namespace redeye::metrics::http
