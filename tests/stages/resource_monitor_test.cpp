// Resource monitor: real /proc/self files, and real temp files standing in for them to drive the
// pressure levels deterministically.
#include "processor/stages/resource_monitor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ringward::processor {
namespace {

class TempFile {
 public:
  TempFile() {
    char name[] = "/tmp/ringward-rm-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = name;
  }
  ~TempFile() { unlink(path_.c_str()); }
  // Rewrites in place (same inode), as the kernel's view changes under an open fd.
  void write(const std::string& text) {
    std::ofstream out(path_, std::ios::trunc);
    out << text;
  }
  const char* path() const { return path_.c_str(); }

 private:
  std::string path_;
};

TEST(ResourceMonitorTest, ReadsItsOwnRssAndThreads) {
  ManualClock clock;
  std::optional<ResourceMonitor::OpenError> error;
  auto monitor = ResourceMonitor::open({}, clock, error);
  ASSERT_FALSE(error.has_value());
  const auto before = monitor.sample();
  ASSERT_TRUE(before.ok);
  EXPECT_GT(before.rss_bytes, 0u);
  // One thread of ours; a sanitizer runtime (TSan) may run one of its own in the background.
  EXPECT_GE(before.threads, 1u);

  // Touch 64 MiB: RSS must grow by most of it; a second thread must be seen.
  std::vector<char> block(64 << 20);
  std::memset(block.data(), 1, block.size());
  bool stop = false;
  std::mutex mu;
  std::condition_variable cv;
  std::thread t([&] {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stop; });
  });
  const auto after = monitor.sample();
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_one();
  t.join();
  ASSERT_TRUE(after.ok);
  EXPECT_GE(after.rss_bytes, before.rss_bytes + (48u << 20));
  // At least ours (TSan starts its background thread with the first std::thread).
  EXPECT_GE(after.threads, before.threads + 1);
  EXPECT_GT(after.memory_usage_percent, before.memory_usage_percent);
}

TEST(ResourceMonitorTest, PressureLevelsTrimAndShedFloor) {
  ManualClock clock;
  TempFile statm, stat;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ResourceMonitorConfig config;
  config.max_memory_bytes = 1000 * page;
  config.trim_cooldown_ns = 5'000'000'000;
  stat.write("123 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 3 0 0\n");
  statm.write("5000 100 50 10 0 200 0\n");
  std::optional<ResourceMonitor::OpenError> error;
  auto monitor = ResourceMonitor::open(config, clock, error, statm.path(), stat.path());
  ASSERT_FALSE(error.has_value());

  auto s = monitor.sample();
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.rss_bytes, 100 * page);
  EXPECT_EQ(s.threads, 3u) << "field 20, counted after the last ')'";
  EXPECT_EQ(s.pressure, MemoryPressure::kNone);
  EXPECT_FALSE(s.trimmed);
  EXPECT_EQ(monitor.shed_floor(), LoadLevel::kNormal);

  statm.write("5000 720 50 10 0 200 0\n");
  s = monitor.sample();
  EXPECT_EQ(s.pressure, MemoryPressure::kModerate);
  EXPECT_TRUE(s.trimmed);
  EXPECT_NEAR(s.memory_usage_percent, 72.0, 0.01);

  statm.write("5000 900 50 10 0 200 0\n");
  s = monitor.sample();
  EXPECT_EQ(s.pressure, MemoryPressure::kHigh);
  EXPECT_FALSE(s.trimmed) << "trim cooldown";
  EXPECT_EQ(monitor.shed_floor(), LoadLevel::kHigh);
  clock.advance_ms(5000);
  statm.write("5000 990 50 10 0 200 0\n");
  s = monitor.sample();
  EXPECT_EQ(s.pressure, MemoryPressure::kCritical);
  EXPECT_TRUE(s.trimmed);
  EXPECT_EQ(monitor.shed_floor(), LoadLevel::kCritical);
  EXPECT_EQ(monitor.counters().trims, 2u);
  EXPECT_EQ(monitor.counters().pressure_transitions, 3u);

  // Too many threads is pressure too.
  statm.write("5000 100 50 10 0 200 0\n");
  stat.write("123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 500 0 0\n");
  s = monitor.sample();
  EXPECT_EQ(s.pressure, MemoryPressure::kHigh);

  // Garbage is a counted read error, never a crash; the last good values stay.
  statm.write("garbage\n");
  s = monitor.sample();
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.rss_bytes, 100 * page);
  EXPECT_EQ(monitor.counters().read_errors, 1u);
}

TEST(ResourceMonitorTest, OpenFailureIsAValue) {
  ManualClock clock;
  std::optional<ResourceMonitor::OpenError> error;
  auto monitor = ResourceMonitor::open({}, clock, error, "/nonexistent/statm", "/proc/self/stat");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->errnum, ENOENT);
  EXPECT_EQ(error->doing, "open /nonexistent/statm");
  EXPECT_FALSE(monitor.is_open());
  EXPECT_FALSE(monitor.sample().ok);
}

}  // namespace
}  // namespace ringward::processor
