#include "metrics/histogram_buckets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace redeye::metrics {
namespace {

// ---- mirror of the kernel's slot functions (bpf/include/redeye/bpf_common.h)

// floor(log2(v)) for v > 0, the same branch-free formulation as log2_u32.
uint32_t mirror_log2_u32(uint32_t v) {
  uint32_t r = static_cast<uint32_t>(v > 0xFFFF) << 4;
  v >>= r;
  uint32_t shift = static_cast<uint32_t>(v > 0xFF) << 3;
  v >>= shift;
  r |= shift;
  shift = static_cast<uint32_t>(v > 0xF) << 2;
  v >>= shift;
  r |= shift;
  shift = static_cast<uint32_t>(v > 0x3) << 1;
  v >>= shift;
  r |= shift;
  r |= (v >> 1);
  return r;
}

uint32_t mirror_log2_u64(uint64_t v) {
  const auto hi = static_cast<uint32_t>(v >> 32);
  if (hi) return mirror_log2_u32(hi) + 32;
  return mirror_log2_u32(static_cast<uint32_t>(v));
}

uint32_t mirror_log2_slot(uint64_t v, uint32_t max_slot) {
  const uint32_t slot = v ? mirror_log2_u64(v) + 1 : 0;
  return slot > max_slot ? max_slot : slot;
}

uint32_t mirror_le_slot(uint64_t v, uint64_t unit, uint32_t max_slot) {
  return v ? mirror_log2_slot((v - 1) / unit, max_slot) : 0;
}

uint32_t mirror_latency_slot(uint64_t ns) {
  if (ns > REDEYE_LAT_CAP_NS) return REDEYE_LAT_SLOTS - 1;
  return mirror_le_slot(ns, 1000, REDEYE_LAT_SLOTS - 2);
}

uint32_t mirror_duration_slot(uint64_t ns) { return mirror_le_slot(ns, 1000000, REDEYE_DUR_SLOTS - 1); }

// The slot abi.h documents for a latency: 0 up to 1 us, k for
// 2^(k-1) us < v <= 2^k us (k = 1..23), 24 above 2^23 us up to 10 s, 25
// above 10 s. Written independently of the mirror above.
uint32_t documented_latency_slot(uint64_t ns) {
  if (ns > 10'000'000'000ULL) return 25;
  if (ns <= 1000) return 0;
  for (uint32_t k = 1; k <= 23; ++k)
    if (ns <= (1ULL << k) * 1000) return k;
  return 24;
}

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;
constexpr uint64_t kS = 1000 * kMs;

// Bounds in integer nanoseconds: exact, unlike seconds as doubles.
std::vector<uint64_t> latency_bounds_ns() {
  std::vector<uint64_t> out;
  for (double b : latency_bounds()) out.push_back(static_cast<uint64_t>(std::llround(b * 1e9)));
  return out;
}
std::vector<uint64_t> duration_bounds_ns() {
  std::vector<uint64_t> out;
  for (double b : duration_bounds()) out.push_back(static_cast<uint64_t>(std::llround(b * 1e9)));
  return out;
}

// Prometheus `le`: a value belongs to the first bucket whose bound is >= it.
// So the value of slot s must satisfy bound[s-1] < value <= bound[s], where
// bound[-1] is -Inf and bound[size] (the last slot) is +Inf.
::testing::AssertionResult le_semantics(uint64_t ns, uint32_t slot, const std::vector<uint64_t>& bounds) {
  if (slot > bounds.size())
    return ::testing::AssertionFailure() << ns << " ns: slot " << slot << " beyond +Inf (" << bounds.size() << ")";
  if (slot < bounds.size() && !(ns <= bounds[slot]))
    return ::testing::AssertionFailure() << ns << " ns in slot " << slot << " exceeds its bound le=" << bounds[slot]
                                         << " ns";
  if (slot > 0 && !(ns > bounds[slot - 1]))
    return ::testing::AssertionFailure() << ns << " ns in slot " << slot
                                         << " should have been counted in the previous bucket le="
                                         << bounds[slot - 1] << " ns";
  return ::testing::AssertionSuccess();
}

// ---- bounds ------------------------------------------------------------------

TEST(HistogramBuckets, LatencyBoundsArePowersOfTwoMicrosecondsThenTenSeconds) {
  const auto& b = latency_bounds();
  ASSERT_EQ(b.size(), 25u);
  EXPECT_EQ(b.size(), static_cast<size_t>(REDEYE_LAT_SLOTS - 1));
  EXPECT_DOUBLE_EQ(b[0], 1e-6);
  EXPECT_DOUBLE_EQ(b[1], 2e-6);
  EXPECT_DOUBLE_EQ(b[2], 4e-6);
  EXPECT_DOUBLE_EQ(b[10], 1.024e-3);
  EXPECT_DOUBLE_EQ(b[20], 1.048576);
  EXPECT_DOUBLE_EQ(b[23], 8.388608);
  EXPECT_EQ(b[24], 10.0);
  for (size_t k = 0; k < 24; ++k) EXPECT_DOUBLE_EQ(b[k], std::ldexp(1.0, static_cast<int>(k)) * 1e-6) << k;
  for (size_t k = 1; k < b.size(); ++k) EXPECT_LT(b[k - 1], b[k]) << k;
}

TEST(HistogramBuckets, LatencyBoundsInNanosecondsAreExact) {
  const auto ns = latency_bounds_ns();
  ASSERT_EQ(ns.size(), 25u);
  for (size_t k = 0; k < 24; ++k) EXPECT_EQ(ns[k], (1ULL << k) * kUs) << k;
  EXPECT_EQ(ns[24], REDEYE_LAT_CAP_NS);
}

TEST(HistogramBuckets, DurationBoundsArePowersOfTwoMilliseconds) {
  const auto& b = duration_bounds();
  ASSERT_EQ(b.size(), 25u);
  EXPECT_EQ(b.size(), static_cast<size_t>(REDEYE_DUR_SLOTS - 1));
  EXPECT_DOUBLE_EQ(b.front(), 0.001);
  EXPECT_DOUBLE_EQ(b[1], 0.002);
  EXPECT_DOUBLE_EQ(b[10], 1.024);
  EXPECT_DOUBLE_EQ(b.back(), 16777.216);  // 2^24 ms, ~4.7 h
  for (size_t k = 0; k < b.size(); ++k) EXPECT_DOUBLE_EQ(b[k], std::ldexp(1.0, static_cast<int>(k)) * 1e-3) << k;
  for (size_t k = 1; k < b.size(); ++k) EXPECT_LT(b[k - 1], b[k]) << k;
}

TEST(HistogramBuckets, BoundsAreComputedOnce) {
  EXPECT_EQ(&latency_bounds(), &latency_bounds());
  EXPECT_EQ(&duration_bounds(), &duration_bounds());
}

// ---- conversions -------------------------------------------------------------

TEST(HistogramBuckets, BucketIncrementsAreTheSlots) {
  redeye_hist h{};
  for (int i = 0; i < REDEYE_LAT_SLOTS; ++i) h.slots[i] = static_cast<uint64_t>(i * 3 + 1);
  h.slots[25] = 7;
  const auto inc = bucket_increments(h);
  ASSERT_EQ(inc.size(), 26u);
  ASSERT_EQ(inc.size(), latency_bounds().size() + 1);  // one per bound plus +Inf
  for (int i = 0; i < 25; ++i) EXPECT_EQ(inc[i], static_cast<double>(i * 3 + 1)) << i;
  EXPECT_EQ(inc[25], 7.0);
}

TEST(HistogramBuckets, BucketIncrementsOfEmptyHistogramAreZero) {
  const redeye_hist h{};
  EXPECT_EQ(bucket_increments(h), std::vector<double>(26, 0.0));
  EXPECT_EQ(total_count(h), 0u);
  EXPECT_EQ(sum_seconds(h), 0.0);
}

TEST(HistogramBuckets, SumSecondsConvertsNanoseconds) {
  redeye_hist h{};
  h.sum_ns = 1'500'000'000ULL;
  EXPECT_DOUBLE_EQ(sum_seconds(h), 1.5);
  h.sum_ns = 250;
  EXPECT_DOUBLE_EQ(sum_seconds(h), 2.5e-7);
  h.sum_ns = 3600ULL * kS;
  EXPECT_DOUBLE_EQ(sum_seconds(h), 3600.0);
}

TEST(HistogramBuckets, TotalCountAddsEverySlotIncludingInf) {
  redeye_hist h{};
  h.slots[0] = 1;
  h.slots[12] = 10;
  h.slots[24] = 100;
  h.slots[25] = 1000;
  h.sum_ns = 99;  // not a count
  EXPECT_EQ(total_count(h), 1111u);
}

TEST(HistogramBuckets, TotalCountDoesNotLoseLargeCounts) {
  redeye_hist h{};
  h.slots[3] = 1ULL << 40;
  h.slots[4] = (1ULL << 40) + 5;
  EXPECT_EQ(total_count(h), (1ULL << 41) + 5);
}

// ---- kernel slot function vs. bounds -------------------------------------------

TEST(KernelSlots, MirrorMatchesDocumentedLatencySlots) {
  struct Case {
    uint64_t ns;
    uint32_t slot;
  };
  const Case cases[] = {
      {0, 0},
      {999, 0},
      {1000, 0},
      {1001, 1},
      {1999, 1},
      {2000, 1},
      {2001, 2},
      {4000, 2},
      {4001, 3},
      {(1ULL << 10) * kUs, 10},
      {(1ULL << 10) * kUs + 1, 11},
      {(1ULL << 23) * kUs, 23},
      {(1ULL << 23) * kUs + 1, 24},
      {10 * kS, 24},
      {10 * kS + 1, 25},
      {3600 * kS, 25},
      {UINT64_MAX, 25},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(mirror_latency_slot(c.ns), c.slot) << c.ns << " ns";
    EXPECT_EQ(documented_latency_slot(c.ns), c.slot) << c.ns << " ns";
  }
  // Exhaustively up to 70 ms, and sampled beyond, the two agree.
  for (uint64_t ns = 0; ns < 70 * kMs; ns += 997) ASSERT_EQ(mirror_latency_slot(ns), documented_latency_slot(ns)) << ns;
  for (uint64_t ns = 70 * kMs; ns < 12 * kS; ns += 9'999'991)
    ASSERT_EQ(mirror_latency_slot(ns), documented_latency_slot(ns)) << ns;
}

TEST(KernelSlots, MirrorLog2MatchesFloorLog2) {
  EXPECT_EQ(mirror_log2_u64(1), 0u);
  for (uint32_t k = 0; k < 64; ++k) {
    EXPECT_EQ(mirror_log2_u64(1ULL << k), k);
    if (k > 0) {
      EXPECT_EQ(mirror_log2_u64((1ULL << k) - 1), k - 1);
    }
    EXPECT_EQ(mirror_log2_u64((1ULL << k) | 1), k);
  }
  EXPECT_EQ(mirror_log2_u64(UINT64_MAX), 63u);
}

// Values strictly inside a bucket (not on a bound) land in the bucket that
// Prometheus `le` semantics give them.
TEST(KernelSlots, LatencySlotsAgreeWithBoundsInsideBuckets) {
  const auto bounds = latency_bounds_ns();
  ASSERT_EQ(bounds.size(), static_cast<size_t>(REDEYE_LAT_SLOTS - 1));
  const uint64_t values[] = {0,
                             1,
                             999,
                             1001,
                             1999,
                             2001,
                             3999,
                             4001,
                             1 * kMs + 1,
                             (1ULL << 23) * kUs - 1,
                             (1ULL << 23) * kUs + 1,
                             9'999'000'000ULL,
                             9'999'999'999ULL,
                             10 * kS + 1,
                             3600 * kS};
  for (uint64_t ns : values) EXPECT_TRUE(le_semantics(ns, mirror_latency_slot(ns), bounds));
  // Every slot's interior, sampled.
  for (uint64_t ns = 1; ns < 11 * kS; ns = ns * 3 + 7) {
    bool on_bound = false;
    for (uint64_t b : bounds) on_bound |= ns == b;
    if (!on_bound) {
      EXPECT_TRUE(le_semantics(ns, mirror_latency_slot(ns), bounds));
    }
  }
}

TEST(KernelSlots, DurationSlotsAgreeWithBoundsInsideBuckets) {
  const auto bounds = duration_bounds_ns();
  ASSERT_EQ(bounds.size(), static_cast<size_t>(REDEYE_DUR_SLOTS - 1));
  const uint64_t values[] = {0, 999'999, 1 * kMs + 1, 2 * kMs - 1, 1 * kS + 1, 3600 * kS,
                             (1ULL << 24) * kMs - 1, (1ULL << 24) * kMs + 1, 24 * 3600 * kS};
  for (uint64_t ns : values) EXPECT_TRUE(le_semantics(ns, mirror_duration_slot(ns), bounds));
  EXPECT_EQ(mirror_duration_slot(999'999), 0u);
  EXPECT_EQ(mirror_duration_slot(1 * kMs + 1), 1u);
  EXPECT_EQ(mirror_duration_slot(3600 * kS), 22u);  // 2^21 ms < 1 h < 2^22 ms
  EXPECT_EQ(mirror_duration_slot(24 * 3600 * kS), 25u);
}

// Values exactly on a bound: Prometheus counts v in the bucket le=v, so 1 us
// belongs in le=1e-06 (slot 0) and 10 s in le=10 (slot 24).
TEST(KernelSlots, LatencySlotsAgreeWithBoundsOnExactBounds) {
  const auto bounds = latency_bounds_ns();
  const uint64_t on_bounds[] = {1 * kUs, 2 * kUs, 4 * kUs, (1ULL << 10) * kUs, (1ULL << 23) * kUs, 10 * kS};
  for (uint64_t ns : on_bounds)
    EXPECT_TRUE(le_semantics(ns, mirror_latency_slot(ns), bounds));
}

TEST(KernelSlots, DurationSlotsAgreeWithBoundsOnExactBounds) {
  const auto bounds = duration_bounds_ns();
  const uint64_t on_bounds[] = {1 * kMs, 2 * kMs, 1024 * kMs, (1ULL << 24) * kMs};
  for (uint64_t ns : on_bounds)
    EXPECT_TRUE(le_semantics(ns, mirror_duration_slot(ns), bounds));
}

// The brief's sample values, each checked against its slot's bound and the
// previous bound.
TEST(KernelSlots, SampleValuesBelowTheirBoundAndAboveThePrevious) {
  const auto bounds = latency_bounds_ns();
  struct Case {
    uint64_t ns;
    uint32_t slot;
  };
  const Case cases[] = {
      {0, 0},
      {999, 0},
      {1999, 1},
      {(1ULL << 23) * kUs - 1, 23},
      {9'999 * kMs, 24},
      {3600 * kS, 25},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(mirror_latency_slot(c.ns), c.slot) << c.ns;
    EXPECT_TRUE(le_semantics(c.ns, c.slot, bounds));
  }
}

}  // namespace
}  // namespace redeye::metrics
