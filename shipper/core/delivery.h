// The delivery engine: one SinkWorker per sink reads its position in the shared DiskBuffer,
// batches (`batch_size`, `flush_interval`), sends through the Sink, and guarantees every event ends
// delivered, dead-lettered, or dropped by a counted policy. Policies are separate clock-driven
// classes so tests drive time: Backoff (100 ms doubling to 30 s, jitter, Retry-After as
// max(backoff, header)), CircuitBreaker (closed / open / half-open with one probe, exponential
// open time), AimdLimiter (in-flight requests, additive increase, multiplicative decrease on
// backpressure, as Vector's adaptive concurrency). Trust: shipper process; the peer's answers
// (through SendResult) are untrusted values.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "shipper/core/dead_letter_queue.h"
#include "shipper/core/disk_buffer.h"
#include "shipper/core/sink.h"

namespace ringward::shipper {

using std::chrono::milliseconds;

struct BackoffPolicy {
  milliseconds initial{100};
  milliseconds max{30'000};
  double jitter = 0.25;      // each delay is uniform in [base * (1 - jitter), base]
  uint64_t max_retries = 0;  // 0 = unlimited (the default: events are never given up on)
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy p = {}, uint64_t seed = std::random_device{}()) : p_(p), rng_(seed) {}
  // Delay before the next attempt; a server's Retry-After raises it (never lowers it).
  milliseconds next(std::optional<milliseconds> retry_after = std::nullopt);
  void reset() { attempt_ = 0; }
  uint64_t attempts() const { return attempt_; }
  bool exhausted() const { return p_.max_retries != 0 && attempt_ >= p_.max_retries; }
  // Un-jittered delay of attempt n (0-based): initial * 2^n capped at max.
  milliseconds base(uint64_t n) const;

 private:
  BackoffPolicy p_;
  std::mt19937_64 rng_;
  uint64_t attempt_ = 0;
};

enum class BreakerState { closed, open, half_open };
const char* to_string(BreakerState s);

struct BreakerPolicy {
  uint32_t failure_threshold = 5;  // consecutive failed sends that open the breaker
  milliseconds open_initial{1000};
  milliseconds open_max{60'000};   // open time doubles per failed probe up to this
};

// Thread-safe. A failure is a send that says the peer is unavailable (retry status); a permanent
// refusal is an answer from a live peer and counts as success for the breaker.
class CircuitBreaker {
 public:
  CircuitBreaker(BreakerPolicy p, const Clock& clock) : p_(p), clock_(clock), open_for_(p.open_initial) {}
  // May a send start now? In half-open exactly one probe is let through until it reports.
  bool allow();
  void on_success();
  void on_failure();
  BreakerState state() const;
  // While open: how long until the probe may go (0 otherwise).
  milliseconds remaining_open() const;
  uint64_t opens() const;

 private:
  BreakerState state_locked() const;
  BreakerPolicy p_;
  const Clock& clock_;
  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::closed;
  uint32_t failures_ = 0;
  uint64_t opened_at_ns_ = 0;
  milliseconds open_for_;
  bool probe_in_flight_ = false;
  uint64_t opens_ = 0;
};

struct AimdPolicy {
  size_t min = 1;
  size_t max = 16;
  double decrease = 0.5;  // multiplicative decrease on backpressure
};

// Limits requests in flight. Additive increase (+1 after `limit` consecutive successes, i.e. about
// once per round of requests) and multiplicative decrease on backpressure. Thread-safe.
class AimdLimiter {
 public:
  explicit AimdLimiter(AimdPolicy p) : p_(p), limit_(p.min) {}
  bool try_acquire();
  // Blocks until a slot is free or `stop` is set (then returns false).
  bool acquire(const std::atomic<bool>& stop);
  enum class Outcome { success, backpressure, failure };
  void release(Outcome o);
  size_t limit() const;
  size_t in_flight() const;
  void wake_all() { cv_.notify_all(); }

 private:
  AimdPolicy p_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t limit_;
  size_t in_flight_ = 0;
  size_t successes_ = 0;
};

// How the worker waits (backoff, breaker, linger): tests plug in one that advances a ManualClock.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void wait_for(std::chrono::nanoseconds d) = 0;  // may return early on interrupt()
  virtual void interrupt() = 0;
};

class CondvarWaiter final : public Waiter {
 public:
  void wait_for(std::chrono::nanoseconds d) override;
  void interrupt() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool interrupted_ = false;
};

enum class SinkHealth { normal, backpressure, unavailable, buffer_full };
const char* to_string(SinkHealth s);

struct SinkWorkerOptions {
  size_t batch_size = 500;
  milliseconds flush_interval{1000};
  uint64_t max_batch_bytes = 4u << 20;
  BackoffPolicy backoff;
  BreakerPolicy breaker;
  size_t max_concurrency = 0;  // 0: the sink's own max_concurrency()
  uint64_t seed = std::random_device{}();
};

// Drop reasons counted by the worker itself.
inline constexpr const char* kDropDlqWriteFailed = "dlq_write_failed";
inline constexpr const char* kDropRetriesExhausted = "retries_exhausted";

struct SinkWorkerStats {
  std::string name;
  SinkHealth state = SinkHealth::normal;
  BreakerState breaker = BreakerState::closed;
  uint64_t delivered = 0, dead_lettered = 0, retries = 0, duplicates = 0, batches = 0;
  uint64_t sends = 0, splits = 0, breaker_opens = 0;
  double backpressure_seconds = 0;
  size_t concurrency_limit = 0, in_flight = 0;
  uint64_t backlog = 0;
  std::map<std::string, uint64_t> dropped;  // worker drops plus this sink's buffer drops
  int last_status = 0;
  std::string last_error;
};

class SinkWorker {
 public:
  // `sink_name` must be one of the DiskBuffer's sinks. `dlq` may be null (refused events are then
  // dropped with reason dlq_write_failed, counted).
  SinkWorker(SinkWorkerOptions o, Sink& sink, DiskBuffer& buffer, std::string sink_name,
             DeadLetterQueue* dlq, const Clock& clock, Waiter& waiter);
  ~SinkWorker();
  SinkWorker(const SinkWorker&) = delete;
  SinkWorker& operator=(const SinkWorker&) = delete;

  void start();  // spawns max_concurrency sender threads
  void stop();   // batches still being sent are not acknowledged: replayed on next start

  // Takes one batch and drives it to a final outcome (delivered / DLQ / counted drop), waiting
  // through retries. Returns false when nothing was ready. Used by the threads, and by tests.
  bool run_once();

  SinkWorkerStats stats() const;
  const std::string& name() const { return name_; }

 private:
  struct Pending {
    uint64_t last_seq = 0;
    bool done = false;
    AckCounts counts;
  };
  enum class Outcome { done, aborted };
  Outcome deliver(std::span<const OutEvent> events, Backoff& backoff, AckCounts& counts);
  void dead_letter(const OutEvent& ev, int status, const std::string& reason, AckCounts& counts);
  void complete(uint64_t last_seq, bool done, AckCounts counts);
  void note_backpressure(bool bp);
  void thread_main();

  SinkWorkerOptions o_;
  Sink& sink_;
  DiskBuffer& buffer_;
  std::string name_;
  size_t index_;
  DeadLetterQueue* dlq_;
  const Clock& clock_;
  Waiter& waiter_;
  CircuitBreaker breaker_;
  AimdLimiter limiter_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;

  std::mutex take_mu_;  // orders buffer reads with the pending list
  std::deque<Pending> pending_;

  mutable std::mutex st_mu_;
  SinkWorkerStats st_;
  uint64_t bp_since_ns_ = 0;  // backpressure episode start, 0 when none
  uint64_t last_bp_ns_ = 0;
  std::atomic<uint64_t> seed_counter_{0};  // sender threads draw jitter seeds concurrently
};

}  // namespace ringward::shipper
