// Stage 4, rate limit: a token bucket of `rate_per_second` tokens with room for `burst`.
// Integer arithmetic in nano-tokens so that, exactly, admitted non-critical events over any span
// never exceed rate × span + burst. Critical events always pass: they take a token when one is
// there, otherwise they are counted as over_limit and pass anyway.
// Trust: sandboxed processor; one instance per processing thread (not thread-safe).
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "event.capnp.h"

namespace ringward::processor {

struct TokenBucketConfig {
  uint64_t rate_per_second = 10'000;  // max_events_per_second
  uint64_t burst = 10'000;            // bucket size; also the starting fill
};

struct TokenBucketCounters {
  uint64_t allowed = 0;     // rate_limit_allowed (includes critical that found a token)
  uint64_t rejected = 0;    // rate_limit_rejected
  uint64_t over_limit = 0;  // critical events that passed without a token
};

class TokenBucket {
 public:
  TokenBucket(TokenBucketConfig config, const Clock& clock);

  // Reads the clock. `try_acquire_at` lets a batch share one clock reading.
  bool try_acquire(schema::Priority priority = schema::Priority::NORMAL) {
    return try_acquire_at(priority, clock_.mono_ns());
  }
  bool try_acquire_at(schema::Priority priority, uint64_t now_ns);

  // Changes the rate (config reload, resource pressure) keeping the tokens earned so far.
  void set_rate(uint64_t rate_per_second, uint64_t now_ns);

  // rate_limit_utilization: how much of the burst is used up right now, 0 (full bucket) .. 1.
  double utilization(uint64_t now_ns);
  double utilization() { return utilization(clock_.mono_ns()); }
  // Whole tokens available now.
  uint64_t available(uint64_t now_ns);

  const TokenBucketCounters& counters() const { return counters_; }
  const TokenBucketConfig& config() const { return config_; }

 private:
  static constexpr uint64_t kScale = 1'000'000'000ULL;  // nano-tokens per token
  void refill(uint64_t now_ns);

  TokenBucketConfig config_;
  const Clock& clock_;
  uint64_t capacity_;  // burst × kScale
  uint64_t tokens_;    // nano-tokens
  uint64_t last_ns_;
  TokenBucketCounters counters_;
};

}  // namespace ringward::processor
