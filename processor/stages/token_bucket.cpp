// Token bucket in nano-tokens. One nano-token accrues per nanosecond at one event per second, so
// the refill is elapsed_ns × rate with no division and no drift.
// Trust: sandboxed processor.
#include "processor/stages/token_bucket.h"

#include <algorithm>
#include <limits>

namespace ringward::processor {

namespace {
// Bounds that keep burst × kScale and elapsed × rate inside 64 bits.
constexpr uint64_t kMaxBurst = std::numeric_limits<uint64_t>::max() / 1'000'000'000ULL / 2;
constexpr uint64_t kMaxRate = 1'000'000'000ULL;
}  // namespace

TokenBucket::TokenBucket(TokenBucketConfig config, const Clock& clock)
    : config_(config), clock_(clock) {
  config_.burst = std::clamp<uint64_t>(config_.burst, 1, kMaxBurst);
  config_.rate_per_second = std::min(config_.rate_per_second, kMaxRate);
  capacity_ = config_.burst * kScale;
  tokens_ = capacity_;
  last_ns_ = clock_.mono_ns();
}

void TokenBucket::refill(uint64_t now_ns) {
  if (now_ns <= last_ns_) return;  // a clock that stands still or goes back earns nothing
  const uint64_t missing = capacity_ - tokens_;
  const uint64_t elapsed = now_ns - last_ns_;
  last_ns_ = now_ns;
  if (config_.rate_per_second == 0 || missing == 0) return;
  // Cap elapsed at the time to fill the bucket so the product cannot overflow.
  const uint64_t to_fill = missing / config_.rate_per_second + 1;
  tokens_ = elapsed >= to_fill ? capacity_
                               : std::min(capacity_, tokens_ + elapsed * config_.rate_per_second);
}

bool TokenBucket::try_acquire_at(schema::Priority priority, uint64_t now_ns) {
  refill(now_ns);
  if (tokens_ >= kScale) {
    tokens_ -= kScale;
    ++counters_.allowed;
    return true;
  }
  if (priority == schema::Priority::CRITICAL) {
    ++counters_.over_limit;
    return true;
  }
  ++counters_.rejected;
  return false;
}

void TokenBucket::set_rate(uint64_t rate_per_second, uint64_t now_ns) {
  refill(now_ns);
  config_.rate_per_second = std::min(rate_per_second, kMaxRate);
}

uint64_t TokenBucket::available(uint64_t now_ns) {
  refill(now_ns);
  return tokens_ / kScale;
}

double TokenBucket::utilization(uint64_t now_ns) {
  refill(now_ns);
  return 1.0 - static_cast<double>(tokens_) / static_cast<double>(capacity_);
}

}  // namespace ringward::processor
