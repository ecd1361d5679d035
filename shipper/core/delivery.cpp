// Delivery engine implementation. Trust: shipper process.
#include "shipper/core/delivery.h"

#include <algorithm>
#include <cmath>

namespace ringward::shipper {

namespace {
constexpr uint64_t kBackpressureStateNs = 5'000'000'000ULL;  // "backpressure" shown this long
uint64_t ms_to_ns(milliseconds d) { return static_cast<uint64_t>(d.count()) * 1'000'000ULL; }
}  // namespace

// ---------------------------------------------------------------------------------------------
milliseconds Backoff::base(uint64_t n) const {
  double b = static_cast<double>(p_.initial.count()) * std::pow(2.0, static_cast<double>(std::min<uint64_t>(n, 62)));
  return milliseconds(static_cast<int64_t>(std::min(b, static_cast<double>(p_.max.count()))));
}

milliseconds Backoff::next(std::optional<milliseconds> retry_after) {
  milliseconds b = base(attempt_++);
  std::uniform_real_distribution<double> u(1.0 - p_.jitter, 1.0);
  auto d = milliseconds(static_cast<int64_t>(std::llround(static_cast<double>(b.count()) * u(rng_))));
  // Retry-After may ask for more than our cap: honour the server, bounded to one hour against
  // nonsense values.
  if (retry_after && *retry_after > d) d = std::min(*retry_after, milliseconds(3'600'000));
  return d;
}

// ---------------------------------------------------------------------------------------------
const char* to_string(BreakerState s) {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "?";
}

BreakerState CircuitBreaker::state_locked() const {
  if (state_ == BreakerState::open && clock_.mono_ns() >= opened_at_ns_ + ms_to_ns(open_for_))
    return BreakerState::half_open;
  return state_;
}

bool CircuitBreaker::allow() {
  std::lock_guard lk(mu_);
  switch (state_locked()) {
    case BreakerState::closed: return true;
    case BreakerState::open: return false;
    case BreakerState::half_open:
      if (probe_in_flight_) return false;
      state_ = BreakerState::half_open;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::on_success() {
  std::lock_guard lk(mu_);
  state_ = BreakerState::closed;
  failures_ = 0;
  probe_in_flight_ = false;
  open_for_ = p_.open_initial;
}

void CircuitBreaker::on_failure() {
  std::lock_guard lk(mu_);
  BreakerState s = state_locked();
  if (s == BreakerState::half_open) {
    // The probe failed: open again, for twice as long.
    open_for_ = std::min(open_for_ * 2, p_.open_max);
    state_ = BreakerState::open;
    opened_at_ns_ = clock_.mono_ns();
    probe_in_flight_ = false;
    opens_++;
    return;
  }
  if (s == BreakerState::open) return;  // a send that started before the breaker opened
  if (++failures_ >= p_.failure_threshold) {
    state_ = BreakerState::open;
    opened_at_ns_ = clock_.mono_ns();
    opens_++;
  }
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lk(mu_);
  return state_locked();
}

milliseconds CircuitBreaker::remaining_open() const {
  std::lock_guard lk(mu_);
  if (state_locked() != BreakerState::open) return milliseconds(0);
  uint64_t until = opened_at_ns_ + ms_to_ns(open_for_);
  uint64_t now = clock_.mono_ns();
  return milliseconds(until > now ? (until - now + 999'999) / 1'000'000 : 0);
}

uint64_t CircuitBreaker::opens() const {
  std::lock_guard lk(mu_);
  return opens_;
}

// ---------------------------------------------------------------------------------------------
bool AimdLimiter::try_acquire() {
  std::lock_guard lk(mu_);
  if (in_flight_ >= limit_) return false;
  in_flight_++;
  return true;
}

bool AimdLimiter::acquire(const std::atomic<bool>& stop) {
  std::unique_lock lk(mu_);
  while (in_flight_ >= limit_) {
    if (stop.load()) return false;
    cv_.wait_for(lk, std::chrono::milliseconds(100));
  }
  in_flight_++;
  return true;
}

void AimdLimiter::release(Outcome o) {
  {
    std::lock_guard lk(mu_);
    if (in_flight_ > 0) in_flight_--;
    switch (o) {
      case Outcome::success:
        if (++successes_ >= limit_) {
          successes_ = 0;
          limit_ = std::min(p_.max, limit_ + 1);
        }
        break;
      case Outcome::backpressure:
        successes_ = 0;
        limit_ = std::max(p_.min, static_cast<size_t>(std::floor(static_cast<double>(limit_) * p_.decrease)));
        break;
      case Outcome::failure:
        successes_ = 0;  // unavailability is the breaker's business, not a reason to shrink
        break;
    }
  }
  cv_.notify_all();
}

size_t AimdLimiter::limit() const {
  std::lock_guard lk(mu_);
  return limit_;
}

size_t AimdLimiter::in_flight() const {
  std::lock_guard lk(mu_);
  return in_flight_;
}

// ---------------------------------------------------------------------------------------------
void CondvarWaiter::wait_for(std::chrono::nanoseconds d) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, d, [&] { return interrupted_; });
}

void CondvarWaiter::interrupt() {
  {
    std::lock_guard lk(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

const char* to_string(SinkHealth s) {
  switch (s) {
    case SinkHealth::normal: return "normal";
    case SinkHealth::backpressure: return "backpressure";
    case SinkHealth::unavailable: return "unavailable";
    case SinkHealth::buffer_full: return "buffer_full";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
SinkWorker::SinkWorker(SinkWorkerOptions o, Sink& sink, DiskBuffer& buffer, std::string sink_name,
                       DeadLetterQueue* dlq, const Clock& clock, Waiter& waiter)
    : o_(o),
      sink_(sink),
      buffer_(buffer),
      name_(std::move(sink_name)),
      index_(buffer.sink_index(name_)),
      dlq_(dlq),
      clock_(clock),
      waiter_(waiter),
      breaker_(o.breaker, clock),
      limiter_(AimdPolicy{1, std::max<size_t>(1, o.max_concurrency ? o.max_concurrency
                                                                   : sink.max_concurrency()),
                          0.5}) {
  st_.name = name_;
  o_.batch_size = std::max<size_t>(1, o_.batch_size);
}

SinkWorker::~SinkWorker() { stop(); }

void SinkWorker::start() {
  if (!threads_.empty() || index_ == DiskBuffer::npos) return;
  stop_ = false;
  size_t n = std::max<size_t>(1, o_.max_concurrency ? o_.max_concurrency : sink_.max_concurrency());
  for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { thread_main(); });
}

void SinkWorker::stop() {
  stop_ = true;
  waiter_.interrupt();
  buffer_.notify_all();
  limiter_.wake_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void SinkWorker::thread_main() {
  while (!stop_) {
    if (!buffer_.wait_for_data(index_, milliseconds(200))) continue;
    // Linger for a fuller batch, at most flush_interval.
    const uint64_t deadline = clock_.mono_ns() + ms_to_ns(o_.flush_interval);
    while (!stop_ && buffer_.unread(index_) < o_.batch_size && clock_.mono_ns() < deadline)
      waiter_.wait_for(std::chrono::nanoseconds(std::min<uint64_t>(deadline - clock_.mono_ns(), 20'000'000)));
    if (stop_) break;
    run_once();
  }
}

bool SinkWorker::run_once() {
  if (index_ == DiskBuffer::npos) return false;
  std::vector<BufferedEvent> got;
  {
    std::lock_guard lk(take_mu_);
    if (buffer_.read(index_, o_.batch_size, o_.max_batch_bytes, got) == 0) return false;
    pending_.push_back({got.back().seq, false, {}});
  }
  std::vector<OutEvent> events;
  events.reserve(got.size());
  for (auto& g : got) events.push_back(*g.event);
  {
    std::lock_guard lk(st_mu_);
    st_.batches++;
  }
  Backoff backoff(o_.backoff, o_.seed + seed_counter_++);
  AckCounts counts;
  Outcome r = deliver(events, backoff, counts);
  complete(got.back().seq, r == Outcome::done, std::move(counts));
  return true;
}

void SinkWorker::complete(uint64_t last_seq, bool done, AckCounts counts) {
  std::lock_guard lk(take_mu_);
  for (auto& p : pending_)
    if (p.last_seq == last_seq) {
      p.done = done;
      p.counts = std::move(counts);
    }
  if (!done) return;  // aborted (stopping): never acknowledged, replayed after restart
  uint64_t ack = 0;
  AckCounts sum;
  while (!pending_.empty() && pending_.front().done) {
    ack = pending_.front().last_seq;
    const AckCounts& c = pending_.front().counts;
    sum.delivered += c.delivered;
    sum.dead_lettered += c.dead_lettered;
    sum.duplicates += c.duplicates;
    for (auto& [r, v] : c.dropped) sum.dropped[r] += v;
    pending_.pop_front();
  }
  if (ack) buffer_.ack(index_, ack, sum);
}

void SinkWorker::note_backpressure(bool bp) {
  const uint64_t now = clock_.mono_ns();
  if (bp) {
    last_bp_ns_ = now;
    if (!bp_since_ns_) bp_since_ns_ = now;
  } else if (bp_since_ns_) {
    st_.backpressure_seconds += static_cast<double>(now - bp_since_ns_) / 1e9;
    bp_since_ns_ = 0;
  }
}

void SinkWorker::dead_letter(const OutEvent& ev, int status, const std::string& reason,
                             AckCounts& counts) {
  bool ok = dlq_ && dlq_->put(name_, status, reason, ev);
  std::lock_guard lk(st_mu_);
  if (ok) {
    st_.dead_lettered++;
    counts.dead_lettered++;
  } else {
    st_.dropped[kDropDlqWriteFailed]++;
    counts.dropped[kDropDlqWriteFailed]++;
    st_.last_error = "dead-letter write failed for event " + std::to_string(ev.id) + ": " + reason;
  }
}

SinkWorker::Outcome SinkWorker::deliver(std::span<const OutEvent> events, Backoff& backoff,
                                        AckCounts& counts) {
  for (;;) {
    if (stop_) return Outcome::aborted;
    if (!breaker_.allow()) {
      // Unavailable: wait for the breaker's half-open probe slot.
      auto rem = breaker_.remaining_open();
      waiter_.wait_for(std::max(rem, milliseconds(1)));
      continue;
    }
    if (!limiter_.acquire(stop_)) return Outcome::aborted;
    SendResult r = sink_.send(events);
    limiter_.release(r.backpressure ? AimdLimiter::Outcome::backpressure
                     : r.status == SendStatus::retry ? AimdLimiter::Outcome::failure
                                                     : AimdLimiter::Outcome::success);
    {
      std::lock_guard lk(st_mu_);
      st_.sends++;
      st_.last_status = r.protocol_status;
      note_backpressure(r.backpressure);
      if (r.status != SendStatus::ok && !r.detail.empty()) st_.last_error = r.detail;
    }
    switch (r.status) {
      case SendStatus::ok: {
        breaker_.on_success();
        // Index validation: the peer's indices are untrusted.
        std::vector<bool> refused(events.size(), false);
        size_t nref = 0;
        for (const auto& rej : r.rejected) {
          if (rej.index >= events.size() || refused[rej.index]) continue;
          refused[rej.index] = true;
          nref++;
          dead_letter(events[rej.index], rej.status, rej.reason.empty() ? r.detail : rej.reason, counts);
        }
        std::lock_guard lk(st_mu_);
        const uint64_t dups = std::min<uint64_t>(r.duplicates, events.size() - nref);
        st_.delivered += events.size() - nref;
        st_.duplicates += dups;
        counts.delivered += events.size() - nref;
        counts.duplicates += dups;
        return Outcome::done;
      }
      case SendStatus::retry: {
        breaker_.on_failure();
        if (backoff.exhausted()) {
          std::lock_guard lk(st_mu_);
          st_.dropped[kDropRetriesExhausted] += events.size();
          counts.dropped[kDropRetriesExhausted] += events.size();
          return Outcome::done;
        }
        milliseconds d = backoff.next(r.retry_after);
        {
          std::lock_guard lk(st_mu_);
          st_.retries++;
        }
        waiter_.wait_for(d);
        continue;
      }
      case SendStatus::permanent: {
        breaker_.on_success();  // a live peer answered; the data is the problem
        if (events.size() == 1) {
          std::string reason = r.detail.empty() ? "refused with status " + std::to_string(r.protocol_status)
                                                : r.detail;
          dead_letter(events[0], r.protocol_status, reason, counts);
          return Outcome::done;
        }
        {
          std::lock_guard lk(st_mu_);
          st_.splits++;
        }
        // Bisect: the halves succeed or split further until the bad events are alone.
        size_t half = events.size() / 2;
        Backoff b1(o_.backoff, o_.seed + seed_counter_++);
        if (deliver(events.subspan(0, half), b1, counts) == Outcome::aborted) return Outcome::aborted;
        Backoff b2(o_.backoff, o_.seed + seed_counter_++);
        return deliver(events.subspan(half), b2, counts);
      }
    }
  }
}

SinkWorkerStats SinkWorker::stats() const {
  SinkWorkerStats s;
  uint64_t last_bp;
  {
    std::lock_guard lk(st_mu_);
    s = st_;
    last_bp = last_bp_ns_;
    if (bp_since_ns_) s.backpressure_seconds += static_cast<double>(clock_.mono_ns() - bp_since_ns_) / 1e9;
  }
  s.breaker = breaker_.state();
  s.breaker_opens = breaker_.opens();
  s.concurrency_limit = limiter_.limit();
  s.in_flight = limiter_.in_flight();
  auto bs = buffer_.stats();
  if (index_ < bs.sinks.size()) {
    s.backlog = bs.sinks[index_].backlog;
    // The buffer's per-sink drops are lifetime counters that include the worker's acknowledged
    // drops: take the larger per reason so nothing is counted twice.
    for (auto& [k, v] : bs.sinks[index_].dropped) s.dropped[k] = std::max(s.dropped[k], v);
  }
  const uint64_t now = clock_.mono_ns();
  if (s.breaker != BreakerState::closed)
    s.state = SinkHealth::unavailable;
  else if (bs.full)
    s.state = SinkHealth::buffer_full;
  else if (last_bp && now - last_bp < kBackpressureStateNs)
    s.state = SinkHealth::backpressure;
  else
    s.state = SinkHealth::normal;
  return s;
}

}  // namespace ringward::shipper
