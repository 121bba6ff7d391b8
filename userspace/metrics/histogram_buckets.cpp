#include "metrics/histogram_buckets.h"

namespace redeye::metrics {

const prometheus::Histogram::BucketBoundaries& latency_bounds() {
  static const auto bounds = [] {
    prometheus::Histogram::BucketBoundaries b;
    for (int k = 0; k < REDEYE_LAT_LOG2_SLOTS; ++k) b.push_back(static_cast<double>(1ULL << k) * 1e-6);
    b.push_back(static_cast<double>(REDEYE_LAT_CAP_NS) * 1e-9);
    return b;
  }();
  return bounds;
}

const prometheus::Histogram::BucketBoundaries& duration_bounds() {
  static const auto bounds = [] {
    prometheus::Histogram::BucketBoundaries b;
    for (int k = 0; k < REDEYE_DUR_SLOTS - 1; ++k) b.push_back(static_cast<double>(1ULL << k) * 1e-3);
    return b;
  }();
  return bounds;
}

std::vector<double> bucket_increments(const redeye_hist& h) {
  std::vector<double> out(REDEYE_LAT_SLOTS);
  for (int i = 0; i < REDEYE_LAT_SLOTS; ++i) out[i] = static_cast<double>(h.slots[i]);
  return out;
}

double sum_seconds(const redeye_hist& h) { return static_cast<double>(h.sum_ns) * 1e-9; }

uint64_t total_count(const redeye_hist& h) {
  uint64_t n = 0;
  for (auto v : h.slots) n += v;
  return n;
}

}  // namespace redeye::metrics
