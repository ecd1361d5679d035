// Resource monitor: pread of pre-opened /proc files, pressure levels, malloc_trim, one log line
// per pressure change (never per sample). Trust: sandboxed processor.
#include "processor/stages/resource_monitor.h"

#include <fcntl.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ringward::processor {

std::string_view pressure_name(MemoryPressure pressure) {
  switch (pressure) {
    case MemoryPressure::kNone:
      return "none";
    case MemoryPressure::kModerate:
      return "moderate";
    case MemoryPressure::kHigh:
      return "high";
    case MemoryPressure::kCritical:
      return "critical";
  }
  return "unknown";
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

namespace {

UniqueFd open_readonly(const char* path, std::optional<ResourceMonitor::OpenError>& error) {
  int fd;
  do {
    fd = ::open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && !error) error = ResourceMonitor::OpenError{errno, std::string("open ") + path};
  return UniqueFd(fd);
}

// Reads the whole (small) file from offset 0 into buf; returns the length or -1.
ssize_t pread_all(int fd, char* buf, size_t size) {
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = pread(fd, buf, size - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) buf[n] = '\0';
  return n;
}

// Parses a decimal number at p, advancing p; nullopt when there is none.
std::optional<uint64_t> parse_u64(const char*& p, const char* end) {
  while (p < end && *p == ' ') ++p;
  if (p >= end || *p < '0' || *p > '9') return std::nullopt;
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + static_cast<uint64_t>(*p - '0');
    ++p;
  }
  return v;
}

}  // namespace

ResourceMonitor ResourceMonitor::open(ResourceMonitorConfig config, const Clock& clock,
                                      std::optional<OpenError>& error, const char* statm_path,
                                      const char* stat_path) {
  error.reset();
  UniqueFd statm = open_readonly(statm_path, error);
  UniqueFd stat = open_readonly(stat_path, error);
  return ResourceMonitor(config, clock, std::move(statm), std::move(stat));
}

ResourceMonitor::ResourceMonitor(ResourceMonitorConfig config, const Clock& clock, UniqueFd statm,
                                 UniqueFd stat)
    : config_(config),
      clock_(clock),
      statm_(std::move(statm)),
      stat_(std::move(stat)),
      page_size_(static_cast<uint64_t>(sysconf(_SC_PAGESIZE))) {
  if (config_.max_memory_bytes == 0) config_.max_memory_bytes = 1;
}

std::optional<uint64_t> ResourceMonitor::read_rss() const {
  // statm: "size resident shared text lib data dt", in pages.
  char buf[256];
  const ssize_t n = pread_all(statm_.get(), buf, sizeof(buf));
  if (n <= 0) return std::nullopt;
  const char* p = buf;
  const char* end = buf + n;
  if (!parse_u64(p, end)) return std::nullopt;
  auto resident = parse_u64(p, end);
  if (!resident) return std::nullopt;
  return *resident * page_size_;
}

std::optional<uint32_t> ResourceMonitor::read_threads() const {
  // stat: "pid (comm) state ppid ..." – comm may hold spaces and parentheses, so fields are
  // counted from the LAST ')'. num_threads is field 20, the 18th after the comm.
  char buf[1024];
  const ssize_t n = pread_all(stat_.get(), buf, sizeof(buf));
  if (n <= 0) return std::nullopt;
  const char* close_paren = static_cast<const char*>(memrchr(buf, ')', static_cast<size_t>(n)));
  if (close_paren == nullptr) return std::nullopt;
  const char* p = close_paren + 1;
  const char* end = buf + n;
  int field = 2;  // comm was field 2
  while (p < end) {
    while (p < end && *p == ' ') ++p;
    if (p >= end) break;
    ++field;
    if (field == 20) {
      auto v = parse_u64(p, end);
      if (!v || *v > UINT32_MAX) return std::nullopt;
      return static_cast<uint32_t>(*v);
    }
    while (p < end && *p != ' ') ++p;
  }
  return std::nullopt;
}

MemoryPressure ResourceMonitor::pressure_for(uint64_t rss, uint32_t threads) const {
  const double used = static_cast<double>(rss) / static_cast<double>(config_.max_memory_bytes);
  MemoryPressure p = MemoryPressure::kNone;
  if (used >= config_.critical_at) {
    p = MemoryPressure::kCritical;
  } else if (used >= config_.high_at) {
    p = MemoryPressure::kHigh;
  } else if (used >= config_.moderate_at) {
    p = MemoryPressure::kModerate;
  }
  if (threads > config_.max_threads && p < MemoryPressure::kHigh) p = MemoryPressure::kHigh;
  return p;
}

ResourceSample ResourceMonitor::sample() {
  ++counters_.samples;
  const auto rss = read_rss();
  const auto threads = read_threads();
  if (!rss || !threads) {
    ++counters_.read_errors;
    ResourceSample failed = last_;
    failed.ok = false;
    failed.trimmed = false;
    return failed;
  }
  ResourceSample s;
  s.ok = true;
  s.rss_bytes = *rss;
  s.threads = *threads;
  s.memory_usage_percent =
      100.0 * static_cast<double>(*rss) / static_cast<double>(config_.max_memory_bytes);
  s.pressure = pressure_for(*rss, *threads);
  const uint64_t now = clock_.mono_ns();
  if (s.pressure >= MemoryPressure::kModerate &&
      (!trimmed_once_ || now - last_trim_ns_ >= config_.trim_cooldown_ns)) {
    // Free pages glibc keeps cached in its arenas back to the kernel (madvise/brk only: both
    // allowed by the processor's seccomp policy).
    malloc_trim(0);
    trimmed_once_ = true;
    last_trim_ns_ = now;
    s.trimmed = true;
    ++counters_.trims;
  }
  if (s.pressure != last_.pressure) {
    ++counters_.pressure_transitions;
    spdlog::warn(
        "processor memory pressure {} -> {}: rss {} of {} bytes ({:.1f} %), {} threads; shedding "
        "at least at level {}{}",
        pressure_name(last_.pressure), pressure_name(s.pressure), s.rss_bytes,
        config_.max_memory_bytes, s.memory_usage_percent, s.threads,
        level_name(static_cast<LoadLevel>(s.pressure)), s.trimmed ? ", heap trimmed" : "");
  }
  last_ = s;
  return s;
}

LoadLevel ResourceMonitor::shed_floor() const {
  // Same four steps on both sides: moderate pressure sheds like an elevated ring, and so on.
  return static_cast<LoadLevel>(last_.pressure);
}

}  // namespace ringward::processor
