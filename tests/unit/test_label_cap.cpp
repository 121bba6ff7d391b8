#include "metrics/http/label_cap.h"

#include <gtest/gtest.h>

#include <string>

namespace redeye::metrics::http {
namespace {

TEST(LabelCap, OverflowsExactlyAtTheCap) {
  LabelCap cap(/*max_keys=*/10, /*max_per_key=*/3, "_other");
  EXPECT_EQ(cap.admit("shop", "/a"), "/a");
  EXPECT_EQ(cap.admit("shop", "/b"), "/b");
  EXPECT_EQ(cap.admit("shop", "/c"), "/c");
  EXPECT_EQ(cap.overflowed(), 0u);
  EXPECT_EQ(cap.admit("shop", "/d"), "_other");  // the fourth distinct value
  EXPECT_EQ(cap.overflowed(), 1u);
  EXPECT_EQ(cap.admit("shop", "/e"), "_other");
  EXPECT_EQ(cap.overflowed(), 2u);
}

TEST(LabelCap, ValuesSeenBeforeStayAdmitted) {
  LabelCap cap(10, 2, "_other");
  cap.admit("shop", "/a");
  cap.admit("shop", "/b");
  EXPECT_EQ(cap.admit("shop", "/c"), "_other");
  EXPECT_EQ(cap.admit("shop", "/a"), "/a");
  EXPECT_EQ(cap.admit("shop", "/b"), "/b");
  EXPECT_EQ(cap.admit("shop", "/c"), "_other");  // refused values are not remembered as admitted
  EXPECT_EQ(cap.overflowed(), 2u);
}

TEST(LabelCap, EachKeyHasItsOwnBudget) {
  LabelCap cap(10, 1, "_other");
  EXPECT_EQ(cap.admit("shop", "/a"), "/a");
  EXPECT_EQ(cap.admit("blog", "/a"), "/a");
  EXPECT_EQ(cap.admit("blog", "/b"), "_other");
  EXPECT_EQ(cap.admit("shop", "/b"), "_other");
  EXPECT_EQ(cap.keys(), 2u);
}

TEST(LabelCap, KeysBeyondTheCapShareOneBucket) {
  LabelCap cap(/*max_keys=*/2, /*max_per_key=*/2, "_other");
  EXPECT_EQ(cap.admit("k1", "/a"), "/a");
  EXPECT_EQ(cap.admit("k2", "/a"), "/a");
  EXPECT_EQ(cap.key_overflowed(), 0u);
  EXPECT_EQ(cap.admit("k3", "/x"), "/x");  // third key: the shared bucket
  EXPECT_EQ(cap.admit("k4", "/y"), "/y");  // fourth key, same bucket, second value
  EXPECT_EQ(cap.admit("k5", "/x"), "/x");  // already in the shared bucket
  EXPECT_EQ(cap.admit("k5", "/z"), "_other");
  EXPECT_EQ(cap.admit("k3", "/z"), "_other");
  EXPECT_EQ(cap.keys(), 2u);
  EXPECT_EQ(cap.key_overflowed(), 5u);
  EXPECT_EQ(cap.overflowed(), 2u);
  // The first keys keep their own budgets.
  EXPECT_EQ(cap.admit("k1", "/b"), "/b");
  EXPECT_EQ(cap.admit("k1", "/c"), "_other");
}

TEST(LabelCap, OverflowValueIsPassedThroughWithoutTakingRoom) {
  LabelCap cap(10, 1, "_other");
  EXPECT_EQ(cap.admit("shop", "_other"), "_other");
  EXPECT_EQ(cap.overflowed(), 0u);
  EXPECT_EQ(cap.admit("shop", "/a"), "/a");
}

TEST(LabelCap, ZeroCapsOverflowEverything) {
  LabelCap no_values(10, 0, "_other");
  EXPECT_EQ(no_values.admit("shop", "/a"), "_other");
  EXPECT_EQ(no_values.overflowed(), 1u);

  LabelCap no_keys(0, 1, "_other");
  EXPECT_EQ(no_keys.admit("shop", "/a"), "/a");  // the shared bucket still has room
  EXPECT_EQ(no_keys.admit("blog", "/b"), "_other");
  EXPECT_EQ(no_keys.keys(), 0u);
}

TEST(LabelCap, DefaultOverflowValue) {
  LabelCap cap(1, 0);
  EXPECT_EQ(cap.overflow_value(), "_other");
  EXPECT_EQ(cap.admit("k", "v"), "_other");
}

TEST(LabelCap, ManyDistinctValuesStayBounded) {
  LabelCap cap(4, 100, "_other");
  size_t admitted = 0;
  for (int key = 0; key < 10; ++key) {
    for (int value = 0; value < 1000; ++value) {
      if (cap.admit("k" + std::to_string(key), std::to_string(value)) != "_other") ++admitted;
    }
  }
  // Four keys with their own 100 values, the other six sharing 100.
  EXPECT_EQ(admitted, 4u * 100u + 100u * 6u);
  EXPECT_EQ(cap.overflowed(), 10u * 1000u - admitted);
}

}  // namespace
}  // namespace redeye::metrics::http
