// SmallFifo: FIFO order, nothing allocated while empty, popped slots
// compacted when the queue is never drained, erase in the middle.
#include "util/small_fifo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace redeye::util {
namespace {

TEST(SmallFifo, KeepsOrderAndDrains) {
  SmallFifo<std::string> q;
  EXPECT_TRUE(q.empty());
  q.push_back("a");
  q.emplace_back("b");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front(), "a");
  EXPECT_EQ(q.back(), "b");
  EXPECT_EQ(q[1], "b");
  q.pop_front();
  EXPECT_EQ(q.front(), "b");
  q.pop_front();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.begin(), q.end());
}

TEST(SmallFifo, NeverDrainedQueueDoesNotGrow) {
  SmallFifo<int> q;
  q.push_back(0);
  // a pipeline: one always waiting while the next comes
  for (int i = 1; i < 100000; ++i) {
    q.push_back(i);
    EXPECT_EQ(q.front(), i - 1);
    q.pop_front();
    ASSERT_EQ(q.size(), 1u);
  }
  EXPECT_EQ(q.front(), 99999);
  EXPECT_EQ(std::distance(q.begin(), q.end()), 1);
}

TEST(SmallFifo, EraseAndReverseSearchSeeOnlyLiveElements) {
  SmallFifo<int> q;
  for (int i = 0; i < 6; ++i) q.push_back(i);
  q.pop_front();  // 1..5 live
  q.erase(std::find(q.begin(), q.end(), 3));
  EXPECT_EQ(std::vector<int>(q.begin(), q.end()), (std::vector<int>{1, 2, 4, 5}));
  EXPECT_EQ(*std::find_if(q.rbegin(), q.rend(), [](int v) { return v < 3; }), 2);
  EXPECT_EQ(std::find(q.rbegin(), q.rend(), 0), q.rend()) << "a popped element is not found";
  q.erase(q.begin(), q.end());
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace redeye::util
