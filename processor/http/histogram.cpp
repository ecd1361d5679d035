// Histograms and the sliding window. See histogram.h.
#include "processor/http/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ringward::http {

void BucketHistogram::observe(double value, std::span<const double> bounds) {
  if (!(value >= 0.0)) value = 0.0;  // NaN and negatives (hostile latencies) count as 0
  const auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  size_t i = static_cast<size_t>(it - bounds.begin());
  if (i >= counts_.size()) i = counts_.size() - 1;
  ++counts_[i];
  ++count_;
  sum_ += value;
}

void BucketHistogram::merge(const BucketHistogram& other) {
  const size_t n = std::min(counts_.size(), other.counts_.size());
  for (size_t i = 0; i < n; ++i) counts_[i] += other.counts_[i];
  // Mismatched shapes are a programming error; fold the rest into +Inf rather than lose counts.
  for (size_t i = n; i < other.counts_.size(); ++i) counts_.back() += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
}

std::vector<uint64_t> BucketHistogram::cumulative() const {
  std::vector<uint64_t> out(counts_.size());
  uint64_t run = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    run += counts_[i];
    out[i] = run;
  }
  return out;
}

uint32_t LogHistogram::index_of(uint64_t v) {
  constexpr uint64_t kLinear = 1ULL << (kSubBits + 1);  // values below this are exact
  if (v < kLinear) return static_cast<uint32_t>(v);
  const uint32_t e = 63U - static_cast<uint32_t>(std::countl_zero(v));  // >= kSubBits + 1
  const uint32_t sub = static_cast<uint32_t>((v >> (e - kSubBits)) & ((1U << kSubBits) - 1));
  return static_cast<uint32_t>(kLinear) + (e - kSubBits - 1) * (1U << kSubBits) + sub;
}

uint64_t LogHistogram::lower_bound_of(uint32_t index) {
  constexpr uint32_t kLinear = 1U << (kSubBits + 1);
  if (index < kLinear) return index;
  const uint32_t e = (index - kLinear) / (1U << kSubBits) + kSubBits + 1;
  const uint64_t sub = (index - kLinear) % (1U << kSubBits);
  return (1ULL << e) + (sub << (e - kSubBits));
}

uint64_t LogHistogram::width_of(uint32_t index) {
  constexpr uint32_t kLinear = 1U << (kSubBits + 1);
  if (index < kLinear) return 1;
  const uint32_t e = (index - kLinear) / (1U << kSubBits) + kSubBits + 1;
  return 1ULL << (e - kSubBits);
}

void LogHistogram::observe(uint64_t value, uint64_t count) {
  if (count == 0) return;
  const uint32_t idx = index_of(value);
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), idx,
                             [](const auto& b, uint32_t i) { return b.first < i; });
  if (it != buckets_.end() && it->first == idx) {
    it->second += count;
  } else {
    buckets_.insert(it, {idx, count});
  }
  count_ += count;
}

void LogHistogram::merge(const LogHistogram& other) {
  for (const auto& [idx, n] : other.buckets_) {
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), idx,
                               [](const auto& b, uint32_t i) { return b.first < i; });
    if (it != buckets_.end() && it->first == idx) {
      it->second += n;
    } else {
      buckets_.insert(it, {idx, n});
    }
  }
  count_ += other.count_;
}

double LogHistogram::quantile(double q) const {
  if (count_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Nearest-rank definition: the smallest value with at least ceil(q * n) observations <= it.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t run = 0;
  for (const auto& [idx, n] : buckets_) {
    run += n;
    if (run >= rank) {
      const uint64_t width = width_of(idx);
      return static_cast<double>(lower_bound_of(idx)) +
             (width == 1 ? 0.0 : static_cast<double>(width) / 2.0);
    }
  }
  return static_cast<double>(lower_bound_of(buckets_.back().first));
}

void WindowCounts::merge(const WindowCounts& other) {
  requests += other.requests;
  server_errors += other.server_errors;
  business_errors += other.business_errors;
  latency_us.merge(other.latency_us);
}

SlidingWindow::SlidingWindow(uint64_t window_ns, uint32_t slots)
    : slot_ns_(std::max<uint64_t>(1, window_ns / std::max<uint32_t>(1, slots))),
      slots_(std::max<uint32_t>(1, slots)) {}

bool SlidingWindow::live(const Slot& s, uint64_t now_ns) const {
  const uint64_t now_epoch = now_ns / slot_ns_;
  return s.used && s.epoch <= now_epoch && now_epoch - s.epoch < slots_.size();
}

void SlidingWindow::add(uint64_t t_ns, bool server_error, bool business_error,
                        uint64_t latency_us) {
  const uint64_t epoch = t_ns / slot_ns_;
  Slot& s = slots_[epoch % slots_.size()];
  if (s.used && s.epoch < epoch) {
    recycled_requests_ += s.counts.requests;
    s.counts = WindowCounts{};
  }
  // A slot holding a newer epoch means time went backwards (hostile timestamps); keep the count in
  // that slot rather than lose it.
  if (!s.used || s.epoch < epoch) s.epoch = epoch;
  s.used = true;
  ++s.counts.requests;
  s.counts.server_errors += server_error ? 1 : 0;
  s.counts.business_errors += business_error ? 1 : 0;
  s.counts.latency_us.observe(latency_us);
  ++total_;
}

WindowCounts SlidingWindow::aggregate(uint64_t now_ns) const {
  WindowCounts out;
  for (const Slot& s : slots_) {
    if (live(s, now_ns)) out.merge(s.counts);
  }
  return out;
}

uint64_t SlidingWindow::expired_requests(uint64_t now_ns) const {
  uint64_t n = recycled_requests_;
  for (const Slot& s : slots_) {
    if (s.used && !live(s, now_ns)) n += s.counts.requests;
  }
  return n;
}

}  // namespace ringward::http
