// Stage 6, circuit breaker around processing failures (a detector that throws, an encoder that
// fails): after `failure_threshold` consecutive failures it opens and the caller bypasses the
// failing work (forwarding events uninspected, counted) for `recovery_ns`; then it half-opens and
// lets work through again; `success_threshold` consecutive successes close it, one failure reopens.
// Trust: sandboxed processor; one instance per guarded operation and thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/clock.h"

namespace ringward::processor {

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
std::string_view state_name(BreakerState state);

struct CircuitBreakerConfig {
  uint32_t failure_threshold = 100;
  uint64_t recovery_ns = 30'000'000'000ULL;
  uint32_t success_threshold = 50;
};

struct CircuitBreakerCounters {
  uint64_t closed_to_open = 0;
  uint64_t open_to_half_open = 0;
  uint64_t half_open_to_closed = 0;
  uint64_t half_open_to_open = 0;
  uint64_t rejected = 0;  // allow() said no (work bypassed while open)
  uint64_t successes = 0;
  uint64_t failures = 0;
};

class CircuitBreaker {
 public:
  CircuitBreaker(CircuitBreakerConfig config, const Clock& clock);

  // May the guarded work run now? Moves open -> half-open once the recovery time is over.
  bool allow() { return allow_at(clock_.mono_ns()); }
  bool allow_at(uint64_t now_ns);
  void record_success();
  void record_failure() { record_failure_at(clock_.mono_ns()); }
  void record_failure_at(uint64_t now_ns);

  BreakerState state() const { return state_; }
  const CircuitBreakerCounters& counters() const { return counters_; }

 private:
  void open(uint64_t now_ns);

  CircuitBreakerConfig config_;
  const Clock& clock_;
  BreakerState state_ = BreakerState::kClosed;
  uint32_t consecutive_failures_ = 0;
  uint32_t consecutive_successes_ = 0;
  uint64_t opened_at_ns_ = 0;
  CircuitBreakerCounters counters_;
};

}  // namespace ringward::processor
