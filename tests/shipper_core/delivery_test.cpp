// Delivery engine tests: Backoff, CircuitBreaker and AimdLimiter driven by a ManualClock, and
// SinkWorker against a scripted test Sink (a double for the peer) over a real DiskBuffer and DLQ.
#include "shipper/core/delivery.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "test_util.h"

namespace ringward::shipper {
namespace {

using namespace std::chrono_literals;
using testing::make_event;
using testing::TempDir;

// Advances the manual clock instead of sleeping and records every wait.
class ManualWaiter final : public Waiter {
 public:
  explicit ManualWaiter(ManualClock& c) : c_(c) {}
  void wait_for(std::chrono::nanoseconds d) override {
    std::lock_guard lk(mu_);
    waits.push_back(std::chrono::duration_cast<milliseconds>(d));
    c_.advance_ns(static_cast<uint64_t>(d.count()));
  }
  void interrupt() override {}
  std::vector<milliseconds> waits;

 private:
  ManualClock& c_;
  std::mutex mu_;
};

// A peer that answers by script: fn(call number, batch) -> result.
class ScriptedSink final : public Sink {
 public:
  using Fn = std::function<SendResult(size_t call, std::span<const OutEvent>)>;
  explicit ScriptedSink(Fn fn, size_t conc = 1) : fn_(std::move(fn)), conc_(conc) {}
  std::string_view name() const override { return "scripted"; }
  size_t max_concurrency() const override { return conc_; }
  SendResult send(std::span<const OutEvent> batch) override {
    size_t call;
    {
      std::lock_guard lk(mu_);
      call = calls++;
    }
    SendResult r = fn_(call, batch);
    std::lock_guard lk(mu_);
    if (r.status == SendStatus::ok) {
      std::set<size_t> rej;
      for (auto& x : r.rejected) rej.insert(x.index);
      for (size_t i = 0; i < batch.size(); ++i)
        if (!rej.count(i)) delivered.push_back(batch[i].id);
    }
    batch_sizes.push_back(batch.size());
    return r;
  }
  std::mutex mu_;
  size_t calls = 0;
  std::vector<uint64_t> delivered;
  std::vector<size_t> batch_sizes;

 private:
  Fn fn_;
  size_t conc_;
};

SendResult ok() { return {}; }
SendResult retry(int status = 503, std::optional<milliseconds> ra = std::nullopt, bool bp = false) {
  SendResult r;
  r.status = SendStatus::retry;
  r.protocol_status = status;
  r.retry_after = ra;
  r.backpressure = bp;
  r.detail = "peer says " + std::to_string(status);
  return r;
}

struct Rig {
  TempDir dir;
  ManualClock clock;
  ManualWaiter waiter{clock};
  std::unique_ptr<DiskBuffer> buffer;
  std::unique_ptr<DeadLetterQueue> dlq;
  Rig() {
    DiskBufferOptions o;
    o.dir = dir.path() / "buf";
    o.sinks = {"s"};
    io::IoError err;
    buffer = DiskBuffer::open(o, clock, err);
    EXPECT_TRUE(err.ok()) << err.what;
    dlq = DeadLetterQueue::open(dir.path() / "dlq", 1 << 20, clock, err);
    EXPECT_TRUE(err.ok()) << err.what;
  }
  void fill(uint64_t n) {
    for (uint64_t i = 1; i <= n; ++i) ASSERT_TRUE(buffer->append(make_event(i)).stored);
  }
};

TEST(Backoff, DoublesFrom100msTo30sWithBoundedJitter) {
  Backoff b(BackoffPolicy{}, 42);
  std::vector<int64_t> bases;
  for (uint64_t i = 0; i < 12; ++i) bases.push_back(b.base(i).count());
  EXPECT_EQ(bases, (std::vector<int64_t>{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000,
                                         30000, 30000}));
  std::set<int64_t> distinct;
  for (uint64_t i = 0; i < 40; ++i) {
    auto d = b.next().count();
    auto base = b.base(i).count();
    EXPECT_GE(d, static_cast<int64_t>(base * 0.75) - 1) << i;
    EXPECT_LE(d, base) << i;
    if (i >= 10) distinct.insert(d);
  }
  EXPECT_GT(distinct.size(), 5u) << "jitter spreads retries";
  EXPECT_FALSE(b.exhausted()) << "unlimited by default";
}

TEST(Backoff, RetryAfterIsMaxOfBackoffAndHeader) {
  Backoff b(BackoffPolicy{}, 1);
  EXPECT_EQ(b.next(7000ms).count(), 7000);  // header above backoff wins
  auto d = b.next(10ms);                    // header below backoff: backoff wins
  EXPECT_GE(d.count(), 150);
  EXPECT_LE(d.count(), 200);
}

TEST(CircuitBreaker, ClosedOpenHalfOpenWithOneProbeAndExponentialOpenTime) {
  ManualClock clock;
  CircuitBreaker cb(BreakerPolicy{3, 1000ms, 4000ms}, clock);
  EXPECT_EQ(cb.state(), BreakerState::closed);
  cb.on_failure();
  cb.on_failure();
  EXPECT_TRUE(cb.allow());
  cb.on_failure();
  EXPECT_EQ(cb.state(), BreakerState::open);
  EXPECT_FALSE(cb.allow());
  EXPECT_EQ(cb.remaining_open().count(), 1000);
  clock.advance_ms(1000);
  EXPECT_EQ(cb.state(), BreakerState::half_open);
  EXPECT_TRUE(cb.allow());   // the probe
  EXPECT_FALSE(cb.allow());  // only one
  cb.on_failure();           // probe failed: open for 2 s
  EXPECT_EQ(cb.state(), BreakerState::open);
  clock.advance_ms(1500);
  EXPECT_FALSE(cb.allow());
  clock.advance_ms(500);
  EXPECT_TRUE(cb.allow());
  cb.on_failure();  // 4 s (cap)
  clock.advance_ms(3999);
  EXPECT_EQ(cb.state(), BreakerState::open);
  clock.advance_ms(1);
  EXPECT_TRUE(cb.allow());
  cb.on_failure();  // still capped at 4 s
  EXPECT_EQ(cb.remaining_open().count(), 4000);
  clock.advance_ms(4000);
  EXPECT_TRUE(cb.allow());
  cb.on_success();
  EXPECT_EQ(cb.state(), BreakerState::closed);
  EXPECT_EQ(cb.opens(), 4u);
  // Open time was reset by the success.
  for (int i = 0; i < 3; ++i) cb.on_failure();
  EXPECT_EQ(cb.remaining_open().count(), 1000);
}

TEST(AimdLimiter, AdditiveIncreaseMultiplicativeDecrease) {
  AimdLimiter l(AimdPolicy{1, 8, 0.5});
  EXPECT_EQ(l.limit(), 1u);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(l.try_acquire());
    l.release(AimdLimiter::Outcome::success);
  }
  EXPECT_EQ(l.limit(), 8u);
  for (size_t i = 0; i < 8; ++i) ASSERT_TRUE(l.try_acquire());
  EXPECT_FALSE(l.try_acquire()) << "never more in flight than the limit";
  l.release(AimdLimiter::Outcome::backpressure);
  EXPECT_EQ(l.limit(), 4u);
  l.release(AimdLimiter::Outcome::backpressure);
  EXPECT_EQ(l.limit(), 2u);
  l.release(AimdLimiter::Outcome::failure);
  EXPECT_EQ(l.limit(), 2u) << "plain failures are the breaker's business";
  for (int i = 0; i < 5; ++i) l.release(AimdLimiter::Outcome::backpressure);
  EXPECT_EQ(l.limit(), 1u) << "never below the minimum";
}

TEST(SinkWorker, RetriesWithBackoffSequenceUntilDelivered) {
  Rig rig;
  rig.fill(10);
  ScriptedSink sink([](size_t call, auto) { return call < 8 ? retry(503) : ok(); });
  SinkWorkerOptions o;
  o.batch_size = 100;
  o.breaker.failure_threshold = 1000;  // isolate backoff from the breaker
  o.seed = 7;
  SinkWorker w(o, sink, *rig.buffer, "s", rig.dlq.get(), rig.clock, rig.waiter);
  ASSERT_TRUE(w.run_once());
  ASSERT_EQ(rig.waiter.waits.size(), 8u);
  Backoff ref(BackoffPolicy{}, 0);
  for (size_t i = 0; i < 8; ++i) {
    auto base = ref.base(i).count();
    EXPECT_GE(rig.waiter.waits[i].count(), static_cast<int64_t>(base * 0.75) - 1) << i;
    EXPECT_LE(rig.waiter.waits[i].count(), base) << i;
  }
  auto st = w.stats();
  EXPECT_EQ(st.delivered, 10u);
  EXPECT_EQ(st.retries, 8u);
  EXPECT_EQ(st.backlog, 0u) << "acknowledged in the buffer";
  EXPECT_FALSE(w.run_once());
}

TEST(SinkWorker, HonoursRetryAfter) {
  Rig rig;
  rig.fill(3);
  ScriptedSink sink([](size_t call, auto) { return call == 0 ? retry(429, 9000ms, true) : ok(); });
  SinkWorker w(SinkWorkerOptions{}, sink, *rig.buffer, "s", rig.dlq.get(), rig.clock, rig.waiter);
  ASSERT_TRUE(w.run_once());
  ASSERT_EQ(rig.waiter.waits.size(), 1u);
  EXPECT_EQ(rig.waiter.waits[0].count(), 9000);
  auto st = w.stats();
  EXPECT_EQ(st.delivered, 3u);
  EXPECT_EQ(st.state, SinkHealth::normal) << "backpressure ended by the success";
  EXPECT_NEAR(st.backpressure_seconds, 9.0, 0.01);
}

TEST(SinkWorker, BreakerOpensWhilePeerIsDownAndClosesOnRecovery) {
  Rig rig;
  rig.fill(5);
  std::vector<BreakerState> seen;
  SinkWorker* wp = nullptr;
  ScriptedSink sink([&](size_t call, auto) {
    if (wp) seen.push_back(wp->stats().breaker);
    return call < 12 ? retry(0) : ok();
  });
  SinkWorkerOptions o;
  o.breaker = BreakerPolicy{3, 2000ms, 60000ms};
  SinkWorker w(o, sink, *rig.buffer, "s", rig.dlq.get(), rig.clock, rig.waiter);
  wp = &w;
  ASSERT_TRUE(w.run_once());
  auto st = w.stats();
  EXPECT_EQ(st.delivered, 5u);
  EXPECT_EQ(st.breaker, BreakerState::closed);
  EXPECT_GE(st.breaker_opens, 2u);
  // After the breaker opened, every send was a half-open probe.
  size_t probes = std::count(seen.begin(), seen.end(), BreakerState::half_open);
  EXPECT_GE(probes, 9u);
}

TEST(SinkWorker, BisectionIsolatesTheBadEventIntoTheDlq) {
  Rig rig;
  rig.fill(16);
  ScriptedSink sink([](size_t, std::span<const OutEvent> b) {
    for (auto& e : b)
      if (e.id == 7) {
        SendResult r;
        r.status = SendStatus::permanent;
        r.protocol_status = 400;
        r.detail = "invalid event";
        return r;
      }
    return ok();
  });
  SinkWorkerOptions o;
  o.batch_size = 16;
  SinkWorker w(o, sink, *rig.buffer, "s", rig.dlq.get(), rig.clock, rig.waiter);
  ASSERT_TRUE(w.run_once());
  auto st = w.stats();
  EXPECT_EQ(st.delivered, 15u);
  EXPECT_EQ(st.dead_lettered, 1u);
  EXPECT_EQ(st.retries, 0u);
  EXPECT_EQ(st.splits, 4u);  // 16 -> 8 -> 4 -> 2 -> 1
  auto dead = rig.dlq->list();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, 7u);
  EXPECT_EQ(dead[0].status, 400);
  EXPECT_EQ(dead[0].sink, "s");
  EXPECT_EQ(dead[0].reason, "invalid event");
  std::set<uint64_t> got(sink.delivered.begin(), sink.delivered.end());
  EXPECT_EQ(got.size(), 15u);
  EXPECT_FALSE(got.count(7));
  EXPECT_EQ(st.backlog, 0u);
}

TEST(SinkWorker, RejectedEventsGoToDlqAndBogusIndicesAreIgnored) {
  Rig rig;
  rig.fill(5);
  ScriptedSink sink([](size_t, auto) {
    SendResult r;
    r.rejected.push_back({2, 400, "bad field"});
    r.rejected.push_back({2, 400, "dup index"});
    r.rejected.push_back({99, 400, "out of range"});
    r.duplicates = 1;
    return r;
  });
  SinkWorker w(SinkWorkerOptions{}, sink, *rig.buffer, "s", rig.dlq.get(), rig.clock, rig.waiter);
  ASSERT_TRUE(w.run_once());
  auto st = w.stats();
  EXPECT_EQ(st.delivered, 4u);
  EXPECT_EQ(st.dead_lettered, 1u);
  EXPECT_EQ(st.duplicates, 1u);
  EXPECT_EQ(rig.dlq->list()[0].event_id, 3u);
}

TEST(SinkWorker, BackpressureShrinksConcurrencyAndIsReported) {
  TempDir dir;
  SystemClock clock;
  CondvarWaiter waiter;
  DiskBufferOptions bo;
  bo.dir = dir.path() / "buf";
  bo.sinks = {"s"};
  io::IoError err;
  auto buffer = DiskBuffer::open(bo, clock, err);
  ASSERT_TRUE(err.ok());
  std::atomic<bool> pressure{false};
  std::atomic<size_t> max_in_flight{0}, in_flight{0};
  ScriptedSink sink(
      [&](size_t, auto) {
        size_t now = ++in_flight;
        size_t prev = max_in_flight.load();
        while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
        }
        std::this_thread::sleep_for(1ms);
        --in_flight;
        return pressure ? retry(429, std::nullopt, true) : ok();
      },
      8);
  SinkWorkerOptions o;
  o.batch_size = 5;
  o.flush_interval = 0ms;
  o.backoff.initial = 1ms;
  o.backoff.max = 2ms;
  o.breaker.failure_threshold = 1'000'000;
  SinkWorker w(o, sink, *buffer, "s", nullptr, clock, waiter);
  w.start();
  auto pump = [&](uint64_t from, uint64_t n) {
    for (uint64_t i = from; i < from + n; ++i) buffer->append(make_event(i));
  };
  pump(1, 3000);
  for (int i = 0; i < 500 && w.stats().delivered < 3000; ++i) std::this_thread::sleep_for(10ms);
  auto grown = w.stats();
  EXPECT_EQ(grown.delivered, 3000u);
  EXPECT_GT(grown.concurrency_limit, 2u) << "additive increase under success";
  EXPECT_LE(max_in_flight.load(), 8u);
  pressure = true;
  pump(5000, 200);
  for (int i = 0; i < 300 && w.stats().concurrency_limit > 1; ++i) std::this_thread::sleep_for(10ms);
  auto squeezed = w.stats();
  EXPECT_EQ(squeezed.concurrency_limit, 1u) << "multiplicative decrease on backpressure";
  EXPECT_EQ(squeezed.state, SinkHealth::backpressure);
  EXPECT_GT(squeezed.retries, 0u);
  pressure = false;
  for (int i = 0; i < 500 && w.stats().delivered < 3200; ++i) std::this_thread::sleep_for(10ms);
  w.stop();
  auto fin = w.stats();
  EXPECT_EQ(fin.delivered, 3200u);
  EXPECT_GT(fin.backpressure_seconds, 0.0);
}

TEST(SinkWorker, EveryEventEndsDeliveredOrDeadLetteredUnderChaos) {
  TempDir dir;
  SystemClock clock;
  CondvarWaiter waiter;
  DiskBufferOptions bo;
  bo.dir = dir.path() / "buf";
  bo.sinks = {"s"};
  io::IoError err;
  auto buffer = DiskBuffer::open(bo, clock, err);
  auto dlq = DeadLetterQueue::open(dir.path() / "dlq", 64 << 20, clock, err);
  ASSERT_TRUE(err.ok());
  std::mt19937 rng(3);
  std::mutex rmu;
  ScriptedSink sink(
      [&](size_t, std::span<const OutEvent> b) {
        std::lock_guard lk(rmu);
        for (auto& e : b)
          if (e.id % 97 == 0) {
            SendResult r;
            r.status = SendStatus::permanent;
            r.protocol_status = 413;
            return r;
          }
        int roll = static_cast<int>(rng() % 10);
        if (roll < 3) return retry(503);
        if (roll < 4) return retry(429, std::nullopt, true);
        SendResult r;
        if (roll == 9) r.rejected.push_back({0, 400, "first refused"});
        return r;
      },
      4);
  SinkWorkerOptions o;
  o.batch_size = 50;
  o.flush_interval = 0ms;
  o.backoff.initial = 1ms;
  o.backoff.max = 4ms;
  o.breaker.open_initial = 5ms;
  o.breaker.open_max = 20ms;
  SinkWorker w(o, sink, *buffer, "s", dlq.get(), clock, waiter);
  w.start();
  const uint64_t n = 2000;
  for (uint64_t i = 1; i <= n; ++i) buffer->append(make_event(i));
  for (int i = 0; i < 1000; ++i) {
    auto s = w.stats();
    if (s.delivered + s.dead_lettered >= n) break;
    std::this_thread::sleep_for(10ms);
  }
  w.stop();
  auto st = w.stats();
  EXPECT_EQ(st.delivered + st.dead_lettered, n);
  std::set<uint64_t> all(sink.delivered.begin(), sink.delivered.end());
  for (auto& e : dlq->list()) all.insert(e.event_id);
  EXPECT_EQ(all.size(), n) << "nothing lost";
  EXPECT_EQ(st.backlog, 0u);
}

}  // namespace
}  // namespace ringward::shipper

namespace ringward::shipper {
namespace {

TEST(SinkWorker, ASinkThatThrowsOnOneEventDoesNotKillTheShipper) {
  Rig rig;
  rig.fill(8);
  ScriptedSink sink([](size_t, std::span<const OutEvent> b) -> SendResult {
    for (auto& e : b)
      if (e.id == 5) throw std::runtime_error("cannot render event 5");
    return ok();
  });
  SinkWorkerOptions o;
  o.batch_size = 8;
  SinkWorker w(o, sink, *rig.buffer, "s", rig.dlq.get(), rig.clock, rig.waiter);
  ASSERT_TRUE(w.run_once());
  auto st = w.stats();
  EXPECT_EQ(st.delivered, 7u);
  EXPECT_EQ(st.dead_lettered, 1u);
  auto dead = rig.dlq->list();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, 5u);
  EXPECT_NE(dead[0].reason.find("cannot render event 5"), std::string::npos);
}

}  // namespace
}  // namespace ringward::shipper
