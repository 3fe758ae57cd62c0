#include "agent/restart_policy.hpp"

#include <gtest/gtest.h>

namespace baton::agent {
namespace {

using std::chrono::milliseconds;

TEST(RestartBudgetTest, ExponentialWithinLimitThenGivesUp) {
  RestartBudget budget;  // 5 within 60 s, 200 ms first, 30 s max
  std::int64_t t = 1'000'000;
  std::vector<milliseconds> delays;
  for (int i = 0; i < 5; ++i) {
    auto delay = budget.on_failure(t + i * 1000, 0.5);  // jitter 0.5 = the nominal delay
    ASSERT_TRUE(delay.has_value()) << i;
    delays.push_back(*delay);
  }
  EXPECT_EQ(delays,
            (std::vector<milliseconds>{milliseconds(200), milliseconds(400), milliseconds(800),
                                       milliseconds(1600), milliseconds(3200)}));
  EXPECT_FALSE(budget.on_failure(t + 5000, 0.5).has_value());
}

TEST(RestartBudgetTest, OldFailuresLeaveTheWindow) {
  RestartBudget budget(
      RestartPolicy{2, milliseconds(10'000), milliseconds(100), milliseconds(1000)});
  ASSERT_TRUE(budget.on_failure(0, 0.5));
  ASSERT_TRUE(budget.on_failure(1000, 0.5));
  EXPECT_EQ(budget.recent(1000), 2);
  auto later = budget.on_failure(20'000, 0.5);  // both earlier ones are outside the window
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(*later, milliseconds(100));
  EXPECT_EQ(budget.recent(20'000), 1);
}

TEST(RestartBudgetTest, JitterSpreadsAndMaxCaps) {
  RestartPolicy policy{100, milliseconds(1'000'000), milliseconds(1000), milliseconds(4000)};
  RestartBudget low(policy), high(policy);
  EXPECT_EQ(*low.on_failure(0, 0.0), milliseconds(750));
  EXPECT_EQ(*high.on_failure(0, 0.999999), milliseconds(1249));
  RestartBudget capped(policy);
  milliseconds last{0};
  for (int i = 0; i < 10; ++i)
    last = *capped.on_failure(i, 1.0);
  EXPECT_EQ(last, milliseconds(4000));
}

TEST(RestartBudgetTest, RestoreKeepsCounting) {
  RestartBudget budget(
      RestartPolicy{1, milliseconds(60'000), milliseconds(100), milliseconds(1000)});
  budget.restore({5000});
  EXPECT_FALSE(budget.on_failure(6000, 0.5).has_value());
}

}  // namespace
}  // namespace baton::agent
