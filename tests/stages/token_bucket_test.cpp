// Token bucket: driven by ManualClock, no sleeps; property: never more than rate × t + burst.
#include "processor/stages/token_bucket.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace ringward::processor {
namespace {

using schema::Priority;

TEST(TokenBucketTest, BurstThenRate) {
  ManualClock clock;
  TokenBucket bucket({.rate_per_second = 100, .burst = 10}, clock);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(bucket.try_acquire()) << i;
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_DOUBLE_EQ(bucket.utilization(), 1.0);
  clock.advance_ms(10);  // one token at 100/s
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance_ms(5);  // half a token: not enough
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance_ms(5);
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_EQ(bucket.counters().allowed, 12u);
  EXPECT_EQ(bucket.counters().rejected, 3u);
}

TEST(TokenBucketTest, RefillStopsAtBurst) {
  ManualClock clock;
  TokenBucket bucket({.rate_per_second = 1000, .burst = 5}, clock);
  clock.advance_ms(3'600'000);  // an hour idle
  EXPECT_EQ(bucket.available(clock.mono_ns()), 5u);
  EXPECT_DOUBLE_EQ(bucket.utilization(), 0.0);
}

TEST(TokenBucketTest, CriticalAlwaysPassesAndIsCountedOverLimit) {
  ManualClock clock;
  TokenBucket bucket({.rate_per_second = 1, .burst = 1}, clock);
  EXPECT_TRUE(bucket.try_acquire(Priority::CRITICAL));  // takes the one token
  EXPECT_FALSE(bucket.try_acquire(Priority::HIGH));
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(bucket.try_acquire(Priority::CRITICAL));
  EXPECT_EQ(bucket.counters().allowed, 1u);
  EXPECT_EQ(bucket.counters().over_limit, 100u);
  EXPECT_EQ(bucket.counters().rejected, 1u);
}

TEST(TokenBucketTest, ClockGoingBackwardsEarnsNothing) {
  ManualClock clock(10'000'000'000ULL);
  TokenBucket bucket({.rate_per_second = 1000, .burst = 1}, clock);
  EXPECT_TRUE(bucket.try_acquire_at(Priority::NORMAL, 10'000'000'000ULL));
  EXPECT_FALSE(bucket.try_acquire_at(Priority::NORMAL, 1'000'000'000ULL));
  EXPECT_FALSE(bucket.try_acquire_at(Priority::NORMAL, 10'000'000'000ULL));
  EXPECT_TRUE(bucket.try_acquire_at(Priority::NORMAL, 10'001'000'000ULL));
}

TEST(TokenBucketTest, SetRateKeepsEarnedTokens) {
  ManualClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 100}, clock);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(bucket.try_acquire());
  clock.advance_ms(1000);  // 10 tokens at the old rate
  bucket.set_rate(1000, clock.mono_ns());
  EXPECT_EQ(bucket.available(clock.mono_ns()), 10u);
  clock.advance_ms(10);  // 10 more at the new rate
  EXPECT_EQ(bucket.available(clock.mono_ns()), 20u);
}

TEST(TokenBucketTest, HugeValuesDoNotOverflow) {
  ManualClock clock;
  TokenBucket bucket({.rate_per_second = UINT64_MAX, .burst = UINT64_MAX}, clock);
  EXPECT_TRUE(bucket.try_acquire());
  clock.advance_ns(UINT64_MAX / 4);
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_LE(bucket.utilization(), 1.0);
  EXPECT_GE(bucket.utilization(), 0.0);
}

// Property: over any schedule of requests and clock steps, non-critical events admitted never
// exceed rate × elapsed + burst, and critical events are never refused.
RC_GTEST_PROP(TokenBucketProperty, NeverAdmitsMoreThanRateTimesTimePlusBurst, ()) {
  const uint64_t rate = *rc::gen::inRange<uint64_t>(1, 100'000);
  const uint64_t burst = *rc::gen::inRange<uint64_t>(1, 1000);
  ManualClock clock(*rc::gen::inRange<uint64_t>(0, 1'000'000'000'000ULL));
  const uint64_t start = clock.mono_ns();
  TokenBucket bucket({.rate_per_second = rate, .burst = burst}, clock);
  uint64_t admitted = 0;
  const auto steps = *rc::gen::container<std::vector<std::pair<uint32_t, uint8_t>>>(
      rc::gen::pair(rc::gen::inRange<uint32_t>(0, 50'000'000), rc::gen::inRange<uint8_t>(0, 4)));
  for (const auto& [advance_ns, prio] : steps) {
    clock.advance_ns(advance_ns);
    const auto priority = static_cast<Priority>(prio);
    const bool ok = bucket.try_acquire(priority);
    if (priority == Priority::CRITICAL) {
      RC_ASSERT(ok);
    } else if (ok) {
      ++admitted;
    }
    const uint64_t elapsed = clock.mono_ns() - start;
    // rate × elapsed / 1e9 + burst, computed without overflow in 128 bits.
    const unsigned __int128 bound =
        static_cast<unsigned __int128>(rate) * elapsed / 1'000'000'000ULL + burst;
    RC_ASSERT(static_cast<unsigned __int128>(admitted) <= bound);
  }
  RC_ASSERT(bucket.counters().allowed + bucket.counters().rejected +
                bucket.counters().over_limit ==
            steps.size());
}

}  // namespace
}  // namespace ringward::processor
