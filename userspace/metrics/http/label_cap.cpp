#include "metrics/http/label_cap.h"

#include <utility>

namespace redeye::metrics::http {

LabelCap::LabelCap(size_t max_keys, size_t max_per_key, std::string overflow_value)
    : max_keys_(max_keys), max_per_key_(max_per_key), overflow_value_(std::move(overflow_value)) {}

LabelCap::ValueSet& LabelCap::values_of(std::string_view key) {
  if (const auto found = values_by_key_.find(key); found != values_by_key_.end()) return found->second;
  if (values_by_key_.size() < max_keys_) return values_by_key_[std::string(key)];
  ++key_overflowed_;
  return overflow_key_values_;
}

std::string LabelCap::admit(std::string_view key, std::string_view value) {
  return std::string(admit_view(key, value));
}

std::string_view LabelCap::admit_view(std::string_view key, std::string_view value) {
  if (value == overflow_value_) return overflow_value_;
  ValueSet& values = values_of(key);
  // Set elements keep their address: the view outlives rehashing.
  if (const auto found = values.find(value); found != values.end()) return *found;
  if (values.size() < max_per_key_) return *values.emplace(value).first;
  ++overflowed_;
  return overflow_value_;
}

}  // namespace redeye::metrics::http
