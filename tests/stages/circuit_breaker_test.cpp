// Circuit breaker transitions, ManualClock, no sleeps.
#include "processor/stages/circuit_breaker.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace ringward::processor {
namespace {

TEST(CircuitBreakerTest, DefaultsOpenAfter100FailuresRecoverAfter30sCloseAfter50) {
  ManualClock clock;
  CircuitBreaker breaker({}, clock);
  for (int i = 0; i < 99; ++i) {
    ASSERT_TRUE(breaker.allow());
    breaker.record_failure();
  }
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  breaker.record_success();  // resets the consecutive count
  for (int i = 0; i < 99; ++i) breaker.record_failure();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker.counters().closed_to_open, 1u);

  EXPECT_FALSE(breaker.allow());
  clock.advance_ms(29'999);
  EXPECT_FALSE(breaker.allow());
  EXPECT_EQ(breaker.counters().rejected, 2u);
  clock.advance_ms(1);
  EXPECT_TRUE(breaker.allow());
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(breaker.counters().open_to_half_open, 1u);

  for (int i = 0; i < 49; ++i) breaker.record_success();
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  breaker.record_success();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_EQ(breaker.counters().half_open_to_closed, 1u);
}

TEST(CircuitBreakerTest, FailureWhileHalfOpenReopensAndRestartsRecovery) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 3, .recovery_ns = 1'000'000'000, .success_threshold = 2},
                         clock);
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  ASSERT_EQ(breaker.state(), BreakerState::kOpen);
  clock.advance_ms(1000);
  ASSERT_TRUE(breaker.allow());
  breaker.record_success();
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker.counters().half_open_to_open, 1u);
  clock.advance_ms(999);
  EXPECT_FALSE(breaker.allow());
  clock.advance_ms(1);
  EXPECT_TRUE(breaker.allow());
  breaker.record_success();
  breaker.record_success();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

// Property: the state machine only ever takes its four edges, and the counters agree with the
// observed state changes.
RC_GTEST_PROP(CircuitBreakerProperty, TransitionsAreConsistent, ()) {
  ManualClock clock;
  const uint32_t fail_n = *rc::gen::inRange<uint32_t>(1, 10);
  const uint32_t ok_n = *rc::gen::inRange<uint32_t>(1, 10);
  CircuitBreaker breaker({.failure_threshold = fail_n, .recovery_ns = 100, .success_threshold = ok_n},
                         clock);
  const auto ops = *rc::gen::container<std::vector<uint8_t>>(rc::gen::inRange<uint8_t>(0, 3));
  uint64_t edges[3][3] = {};
  for (uint8_t op : ops) {
    const BreakerState before = breaker.state();
    if (op == 0) {
      clock.advance_ns(60);
    } else if (breaker.allow()) {
      op == 1 ? breaker.record_success() : breaker.record_failure();
    }
    const BreakerState after = breaker.state();
    if (before != after) {
      // allow() may chain open -> half-open and record_* then half-open -> closed/open.
      ++edges[static_cast<int>(before)][static_cast<int>(after)];
      RC_ASSERT(!(before == BreakerState::kClosed && after == BreakerState::kHalfOpen));
      RC_ASSERT(!(before == BreakerState::kOpen && after == BreakerState::kClosed && ok_n > 1));
    }
    if (after == BreakerState::kOpen) RC_ASSERT(breaker.counters().closed_to_open +
                                                    breaker.counters().half_open_to_open >
                                                0);
  }
  const auto& c = breaker.counters();
  RC_ASSERT(c.closed_to_open + c.half_open_to_open >= c.open_to_half_open);
  RC_ASSERT(c.open_to_half_open >= c.half_open_to_closed + c.half_open_to_open);
  RC_ASSERT(c.half_open_to_closed <= c.closed_to_open);
}

}  // namespace
}  // namespace ringward::processor
