// Circuit breaker state machine. Trust: sandboxed processor.
#include "processor/stages/circuit_breaker.h"

#include <algorithm>

namespace ringward::processor {

std::string_view state_name(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerConfig config, const Clock& clock)
    : config_(config), clock_(clock) {
  config_.failure_threshold = std::max<uint32_t>(config_.failure_threshold, 1);
  config_.success_threshold = std::max<uint32_t>(config_.success_threshold, 1);
}

bool CircuitBreaker::allow_at(uint64_t now_ns) {
  if (state_ == BreakerState::kOpen) {
    // A clock reading from before the opening (batches share readings) is not recovery time.
    if (now_ns < opened_at_ns_ || now_ns - opened_at_ns_ < config_.recovery_ns) {
      ++counters_.rejected;
      return false;
    }
    state_ = BreakerState::kHalfOpen;
    consecutive_successes_ = 0;
    ++counters_.open_to_half_open;
  }
  return true;
}

void CircuitBreaker::record_success() {
  ++counters_.successes;
  consecutive_failures_ = 0;
  if (state_ == BreakerState::kHalfOpen && ++consecutive_successes_ >= config_.success_threshold) {
    state_ = BreakerState::kClosed;
    ++counters_.half_open_to_closed;
  }
}

void CircuitBreaker::record_failure_at(uint64_t now_ns) {
  ++counters_.failures;
  consecutive_successes_ = 0;
  switch (state_) {
    case BreakerState::kClosed:
      if (++consecutive_failures_ >= config_.failure_threshold) {
        ++counters_.closed_to_open;
        open(now_ns);
      }
      break;
    case BreakerState::kHalfOpen:
      ++counters_.half_open_to_open;
      open(now_ns);
      break;
    case BreakerState::kOpen:
      break;  // a result of work allowed before it opened: already open
  }
}

void CircuitBreaker::open(uint64_t now_ns) {
  state_ = BreakerState::kOpen;
  opened_at_ns_ = now_ns;
  consecutive_failures_ = 0;
}

}  // namespace ringward::processor
