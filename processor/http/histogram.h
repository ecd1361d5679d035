// Latency histograms: BucketHistogram is the Prometheus-style histogram (configured upper bounds,
// rendered cumulatively); LogHistogram is a sparse log-linear histogram (32 sub-buckets per power of
// two, <= 1.6 % relative error at the bucket midpoint) used for p99 over the health window, where
// Prometheus buckets are far too coarse. SlidingWindow keeps per-slot counts for the health window.
// Trust: values are derived from hostile input but only as numbers; every structure is bounded.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace ringward::http {

class BucketHistogram {
 public:
  explicit BucketHistogram(size_t bound_count) : counts_(bound_count + 1, 0) {}

  // `bounds` must be the same (strictly increasing) bounds for every call on this histogram.
  void observe(double value, std::span<const double> bounds);
  // Adds `other` (same bounds) into this one.
  void merge(const BucketHistogram& other);

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // Per-bucket (non-cumulative) counts; the last entry is the +Inf bucket.
  const std::vector<uint64_t>& counts() const { return counts_; }
  // Cumulative counts as Prometheus exposes them (`le` bucket i = observations <= bounds[i]).
  std::vector<uint64_t> cumulative() const;

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

class LogHistogram {
 public:
  static constexpr uint32_t kSubBits = 5;  // 32 sub-buckets per power of two

  void observe(uint64_t value, uint64_t count = 1);
  void merge(const LogHistogram& other);
  void clear() { buckets_.clear(); count_ = 0; }

  uint64_t count() const { return count_; }
  size_t bucket_count() const { return buckets_.size(); }
  // The value at quantile q in [0, 1] (bucket midpoint), 0 when empty.
  double quantile(double q) const;

  static uint32_t index_of(uint64_t value);
  static uint64_t lower_bound_of(uint32_t index);
  static uint64_t width_of(uint32_t index);

 private:
  std::vector<std::pair<uint32_t, uint64_t>> buckets_;  // sorted by index, counts > 0
  uint64_t count_ = 0;
};

// One slot's worth of endpoint traffic.
struct WindowCounts {
  uint64_t requests = 0;
  uint64_t server_errors = 0;    // 5xx
  uint64_t business_errors = 0;
  LogHistogram latency_us;

  void merge(const WindowCounts& other);
};

// A time window of `slots` equal slots; a slot is recycled when time moves a whole window past it.
// Conservation: total() == aggregate(now) + expired(now) for any now not before the last add().
class SlidingWindow {
 public:
  SlidingWindow(uint64_t window_ns, uint32_t slots);

  void add(uint64_t t_ns, bool server_error, bool business_error, uint64_t latency_us);
  WindowCounts aggregate(uint64_t now_ns) const;
  uint64_t expired_requests(uint64_t now_ns) const;
  uint64_t total_requests() const { return total_; }
  uint64_t slot_ns() const { return slot_ns_; }

 private:
  struct Slot {
    uint64_t epoch = 0;
    bool used = false;
    WindowCounts counts;
  };
  bool live(const Slot& s, uint64_t now_ns) const;

  uint64_t slot_ns_;
  std::vector<Slot> slots_;
  uint64_t recycled_requests_ = 0;
  uint64_t total_ = 0;
};

}  // namespace ringward::http
