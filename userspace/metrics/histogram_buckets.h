// Bucket bounds of the kernel's log2 histograms (see abi.h) in seconds, and
// the conversion of a kernel histogram into prometheus-cpp increments.
#pragma once

#include <prometheus/histogram.h>

#include <vector>

#include "redeye/abi.h"

namespace redeye::metrics {

// 1 us, 2 us, 4 us ... 8.388608 s, 10 s (then +Inf).
const prometheus::Histogram::BucketBoundaries& latency_bounds();
// 1 ms, 2 ms, 4 ms ... 2^24 ms (~4.7 h) (then +Inf).
const prometheus::Histogram::BucketBoundaries& duration_bounds();

// Per-bucket (non-cumulative) counts including +Inf, as ObserveMultiple wants.
std::vector<double> bucket_increments(const redeye_hist& h);
double sum_seconds(const redeye_hist& h);
uint64_t total_count(const redeye_hist& h);

}  // namespace redeye::metrics
