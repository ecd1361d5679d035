// Stage 7, resource monitor: the processor's own RSS (against max_memory_bytes) and thread count,
// read through /proc/self/statm and /proc/self/stat fds opened ONCE before the sandbox (after it,
// the processor cannot open files) and pread on every sample. Under pressure it gives memory back
// (malloc_trim), tells the caller how hard to shed, and logs the transition.
// Trust: sandboxed processor; reads only the kernel's view of itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "processor/stages/load_shedder.h"

namespace ringward::processor {

enum class MemoryPressure : uint8_t { kNone = 0, kModerate = 1, kHigh = 2, kCritical = 3 };
std::string_view pressure_name(MemoryPressure pressure);

struct ResourceMonitorConfig {
  uint64_t max_memory_bytes = 1ULL << 30;
  double moderate_at = 0.70;  // of max_memory_bytes
  double high_at = 0.85;
  double critical_at = 0.95;
  uint32_t max_threads = 64;                   // above: at least High (threads are not expected)
  uint64_t trim_cooldown_ns = 5'000'000'000;   // malloc_trim walks the heap: not every sample
};

struct ResourceSample {
  bool ok = false;  // false: the read failed (counted in read_errors; previous values kept)
  uint64_t rss_bytes = 0;
  uint32_t threads = 0;
  double memory_usage_percent = 0.0;  // memory_usage_percent
  MemoryPressure pressure = MemoryPressure::kNone;
  bool trimmed = false;  // malloc_trim ran during this sample
};

struct ResourceMonitorCounters {
  uint64_t samples = 0;
  uint64_t read_errors = 0;
  uint64_t trims = 0;
  uint64_t pressure_transitions = 0;
};

// An fd owned by exactly one object.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

class ResourceMonitor {
 public:
  struct OpenError {
    int errnum;
    std::string doing;  // "open /proc/self/statm"
  };
  // Opens both files now (call before the sandbox). Paths are parameters so tests can feed files.
  static ResourceMonitor open(ResourceMonitorConfig config, const Clock& clock,
                              std::optional<OpenError>& error,
                              const char* statm_path = "/proc/self/statm",
                              const char* stat_path = "/proc/self/stat");

  ResourceSample sample();
  const ResourceSample& last() const { return last_; }
  // The load level the shedder should not go below at this pressure.
  LoadLevel shed_floor() const;
  const ResourceMonitorCounters& counters() const { return counters_; }
  bool is_open() const { return statm_.get() >= 0 && stat_.get() >= 0; }

 private:
  ResourceMonitor(ResourceMonitorConfig config, const Clock& clock, UniqueFd statm, UniqueFd stat);
  std::optional<uint64_t> read_rss() const;
  std::optional<uint32_t> read_threads() const;
  MemoryPressure pressure_for(uint64_t rss, uint32_t threads) const;

  ResourceMonitorConfig config_;
  const Clock& clock_;
  UniqueFd statm_;
  UniqueFd stat_;
  uint64_t page_size_;
  bool trimmed_once_ = false;
  uint64_t last_trim_ns_ = 0;
  ResourceSample last_;
  ResourceMonitorCounters counters_;
};

}  // namespace ringward::processor
