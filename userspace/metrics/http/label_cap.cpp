#include "metrics/http/label_cap.h"

#include <utility>

namespace redeye::metrics::http {

LabelCap::LabelCap(size_t max_keys, size_t max_per_key, std::string overflow_value)
    : max_keys_(max_keys), max_per_key_(max_per_key), overflow_value_(std::move(overflow_value)) {}

LabelCap::ValueSet& LabelCap::values_of(std::string_view key) {
  if (last_values_ && key == last_key_) {
    if (last_values_ == &overflow_key_values_) ++key_overflowed_;
    return *last_values_;
  }
  ValueSet* values = nullptr;
  if (const auto found = values_by_key_.find(key); found != values_by_key_.end()) {
    values = &found->second;
  } else if (values_by_key_.size() < max_keys_) {
    values = &values_by_key_[std::string(key)];
  } else {
    ++key_overflowed_;
    values = &overflow_key_values_;
  }
  last_values_ = values;
  last_key_.assign(key);
  return *values;
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
