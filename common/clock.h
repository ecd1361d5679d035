// Injected clocks. Everything that depends on time (rate limiters, breakers, backoff, health
// scores) takes a Clock& so tests drive time instead of sleeping. Trust: any process.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>

namespace ringward {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds (CLOCK_MONOTONIC: boot-relative, never jumps).
  virtual uint64_t mono_ns() const = 0;
  // Wall-clock nanoseconds since the Unix epoch.
  virtual uint64_t wall_ns() const = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t mono_ns() const override { return read(CLOCK_MONOTONIC); }
  uint64_t wall_ns() const override { return read(CLOCK_REALTIME); }

 private:
  static uint64_t read(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
  }
};

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t mono = 1'000'000'000ULL, uint64_t wall = 1'700'000'000'000'000'000ULL)
      : mono_(mono), wall_(wall) {}
  uint64_t mono_ns() const override { return mono_.load(); }
  uint64_t wall_ns() const override { return wall_.load(); }
  void advance_ns(uint64_t ns) {
    mono_ += ns;
    wall_ += ns;
  }
  void advance_ms(uint64_t ms) { advance_ns(ms * 1'000'000ULL); }

 private:
  std::atomic<uint64_t> mono_;
  std::atomic<uint64_t> wall_;
};

}  // namespace ringward
