// Load shedder: levels, hysteresis, cooldown, lowest-priority-first, caps; ManualClock, no sleeps.
#include "processor/stages/load_shedder.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <vector>

namespace ringward::processor {
namespace {

using schema::Priority;

TEST(LoadShedderTest, LevelsFollowTheThresholds) {
  ManualClock clock;
  LoadShedder shedder({}, clock);
  EXPECT_EQ(shedder.observe_utilization(0.10), LoadLevel::kNormal);
  EXPECT_EQ(shedder.observe_utilization(0.60), LoadLevel::kElevated);
  EXPECT_EQ(shedder.observe_utilization(0.70), LoadLevel::kHigh);
  EXPECT_EQ(shedder.observe_utilization(0.90), LoadLevel::kCritical);
  EXPECT_EQ(shedder.counters().transitions, 3u);
  EXPECT_EQ(shedder.counters().entered[static_cast<size_t>(LoadLevel::kCritical)], 1u);
}

TEST(LoadShedderTest, GoingDownNeedsHysteresisAndCooldown) {
  ManualClock clock;
  LoadShedder shedder({.hysteresis = 0.05, .cooldown_ns = 1'000'000'000}, clock);
  shedder.observe_utilization(0.75);
  ASSERT_EQ(shedder.level(), LoadLevel::kHigh);
  clock.advance_ms(2000);
  // Just under 70 %: within the hysteresis band, stays High.
  EXPECT_EQ(shedder.observe_utilization(0.68), LoadLevel::kHigh);
  // Clearly below, but cooldown check: move up and immediately try to go down.
  EXPECT_EQ(shedder.observe_utilization(0.95), LoadLevel::kCritical);
  EXPECT_EQ(shedder.observe_utilization(0.10), LoadLevel::kCritical) << "cooldown not over";
  clock.advance_ms(999);
  EXPECT_EQ(shedder.observe_utilization(0.10), LoadLevel::kCritical);
  clock.advance_ms(1);
  EXPECT_EQ(shedder.observe_utilization(0.10), LoadLevel::kNormal);
  // Flapping around a threshold does not produce transitions.
  const auto before = shedder.counters().transitions;
  clock.advance_ms(5000);
  for (int i = 0; i < 100; ++i) shedder.observe_utilization(i % 2 ? 0.61 : 0.58);
  EXPECT_EQ(shedder.level(), LoadLevel::kElevated);
  EXPECT_EQ(shedder.counters().transitions, before + 1);
}

TEST(LoadShedderTest, NothingShedBelowHigh) {
  ManualClock clock;
  LoadShedder shedder({}, clock);
  shedder.observe_utilization(0.65);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(shedder.admit(Priority::LOW));
  EXPECT_EQ(shedder.counters().shed, 0u);
}

// Runs `n` events of a repeating mix through the shedder and returns shed counts per priority.
std::array<uint64_t, 4> run_mix(LoadShedder& shedder, const std::vector<Priority>& pattern, int n) {
  std::array<uint64_t, 4> shed{};
  for (int i = 0; i < n; ++i) {
    const Priority p = pattern[static_cast<size_t>(i) % pattern.size()];
    if (!shedder.admit(p)) ++shed[static_cast<size_t>(p)];
  }
  return shed;
}

TEST(LoadShedderTest, ShedsLowestPriorityFirstUpToTheCap) {
  ManualClock clock;
  LoadShedder shedder({}, clock);
  // Half Low, a third Normal... : 3 Low, 2 Normal, 1 High per 6 events.
  const std::vector<Priority> mix = {Priority::LOW,    Priority::NORMAL, Priority::LOW,
                                     Priority::HIGH,   Priority::LOW,    Priority::NORMAL};
  run_mix(shedder, mix, 600);  // learn the mix at Normal
  shedder.observe_utilization(0.75);  // High: cap 70 %
  const auto shed = run_mix(shedder, mix, 60'000);
  const double low = shed[0] / 30'000.0, normal = shed[1] / 20'000.0, high = shed[2] / 10'000.0;
  // 70 % of 6 = 4.2 events per 6: all 3 Low, 1.2 of 2 Normal (60 %), no High.
  EXPECT_GT(low, 0.99);
  EXPECT_NEAR(normal, 0.60, 0.02);
  EXPECT_EQ(shed[2], 0u) << high;
  EXPECT_LE(shed[0] + shed[1] + shed[2], 42'000u);

  shedder.observe_utilization(0.95);  // Critical: cap 80 % = 4.8 of 6: 3 Low + 1.8 of 2 Normal
  const auto shed2 = run_mix(shedder, mix, 60'000);
  EXPECT_GT(shed2[0] / 30'000.0, 0.99);
  EXPECT_NEAR(shed2[1] / 20'000.0, 0.90, 0.02);
  EXPECT_EQ(shed2[2], 0u);
  EXPECT_LE(shed2[0] + shed2[1] + shed2[2], 48'000u);

  // Mostly High traffic at Critical: High goes too, still within the cap.
  const std::vector<Priority> high_mix = {Priority::HIGH, Priority::HIGH, Priority::HIGH,
                                          Priority::LOW};
  run_mix(shedder, high_mix, 1000);  // let the window learn the new mix
  const auto shed3 = run_mix(shedder, high_mix, 40'000);
  EXPECT_GT(shed3[0] / 10'000.0, 0.99);
  EXPECT_NEAR(shed3[2] / 30'000.0, (0.8 * 4 - 1) / 3, 0.02);
}

TEST(LoadShedderTest, NeverShedsCritical) {
  ManualClock clock;
  LoadShedder shedder({}, clock);
  shedder.observe_utilization(1.0);
  for (int i = 0; i < 10'000; ++i) EXPECT_TRUE(shedder.admit(Priority::CRITICAL));
  EXPECT_EQ(shedder.counters().accepted, 10'000u);
}

TEST(LoadShedderTest, ResourceFloorRaisesTheLevel) {
  ManualClock clock;
  LoadShedder shedder({}, clock);
  shedder.observe_utilization(0.1);
  shedder.set_floor(LoadLevel::kCritical, clock.mono_ns());
  EXPECT_EQ(shedder.level(), LoadLevel::kCritical);
  shedder.set_floor(LoadLevel::kNormal, clock.mono_ns());
  EXPECT_EQ(shedder.level(), LoadLevel::kNormal);
}

TEST(LoadShedderTest, ShedRateAndNaN) {
  ManualClock clock;
  LoadShedder shedder({.mix_window = 100}, clock);
  EXPECT_EQ(shedder.observe_utilization(std::nan("")), LoadLevel::kNormal);
  shedder.observe_utilization(0.95);
  for (int i = 0; i < 1000; ++i) shedder.admit(Priority::LOW);
  EXPECT_NEAR(shedder.shed_rate(), 0.8, 0.01);
  EXPECT_NEAR(shedder.recent_shed_rate(), 0.8, 0.02);
}

// Properties over random priorities and utilisation readings: Critical is never shed, and the
// number shed never exceeds the running sum of the caps in force for each non-critical arrival.
RC_GTEST_PROP(LoadShedderProperty, NeverShedsCriticalAndRespectsTheCap, ()) {
  ManualClock clock;
  LoadShedderConfig config;
  config.mix_window = *rc::gen::inRange<uint32_t>(1, 512);
  config.cooldown_ns = *rc::gen::inRange<uint64_t>(0, 1000);
  LoadShedder shedder(config, clock);
  const auto events = *rc::gen::container<std::vector<std::pair<uint8_t, uint8_t>>>(
      rc::gen::pair(rc::gen::inRange<uint8_t>(0, 4), rc::gen::inRange<uint8_t>(0, 120)));
  uint64_t cap_sum_ppm = 0;  // Σ cap(level) over non-critical arrivals
  uint64_t shed = 0;
  for (const auto& [prio, util] : events) {
    clock.advance_ns(100);
    if (util <= 100) shedder.observe_utilization(util / 100.0);
    const auto priority = static_cast<Priority>(prio);
    const uint64_t cap = config.shed_cap_ppm[static_cast<size_t>(shedder.level())];
    const bool kept = shedder.admit(priority);
    if (priority == Priority::CRITICAL) {
      RC_ASSERT(kept);
      continue;
    }
    cap_sum_ppm += cap;
    if (!kept) ++shed;
    RC_ASSERT(shed * 1'000'000 <= cap_sum_ppm);
  }
  RC_ASSERT(shedder.counters().shed == shed);
  RC_ASSERT(shedder.counters().accepted + shed == events.size());
}

}  // namespace
}  // namespace ringward::processor
