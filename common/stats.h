// Per-process statistics pages in shared memory. Each child writes its own page (counters, a
// Prometheus text blob for labelled metrics, a JSON status blob); the supervisor and the shipper map
// pages read-only. Counters are published as atomic snapshots (two blocks and a flip), so a child
// killed mid-update leaves the previous consistent snapshot, and a restarted child continues from
// it. A snapshot may carry the input position it corresponds to, which lets a stage count each
// record exactly once across crashes.
//
// Trust: a reader treats a page as hostile (a compromised processor writes its own page): every
// count and length is bounded and names are sanitised before use.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringward {

inline constexpr size_t kStatsMaxCounters = 224;
inline constexpr size_t kStatsNameLen = 56;
inline constexpr size_t kStatsTextMax = 120 * 1024;

struct StatsBlock {
  std::atomic<uint64_t> seq;  // odd while being written
  uint64_t values[kStatsMaxCounters];
};

struct StatsText {
  std::atomic<uint64_t> seq;
  uint32_t length;
  char bytes[kStatsTextMax];
};

struct StatsPageLayout {
  uint64_t magic;
  uint32_t version;
  std::atomic<uint32_t> pid;
  std::atomic<uint32_t> ready;
  std::atomic<uint32_t> name_count;
  std::atomic<uint64_t> heartbeat_mono_ns;
  std::atomic<uint64_t> generation;  // incremented each time a writer attaches (child start)
  char names[kStatsMaxCounters][kStatsNameLen];
  std::atomic<uint32_t> active;
  StatsBlock blocks[2];
  StatsText metrics_text;  // Prometheus exposition lines (labelled metrics)
  StatsText status_json;   // one JSON object with process-specific status
};

size_t stats_page_size();
void stats_page_format(void* segment, size_t size);

class StatsWriter {
 public:
  // Attaches to a formatted page and adopts the last published snapshot (a restarted child
  // continues its counters).
  StatsWriter(void* segment, size_t size);

  // Index of a counter, registering it on first use. Names: [a-z0-9_.:]; at most kStatsMaxCounters.
  size_t counter(std::string_view name);
  void add(size_t idx, uint64_t n = 1) { values_[idx] += n; }
  void set(size_t idx, uint64_t v) { values_[idx] = v; }
  uint64_t get(size_t idx) const { return values_[idx]; }
  // Publishes the counters as one consistent snapshot.
  void publish();
  void set_metrics_text(std::string_view text);
  void set_status_json(std::string_view json);
  void heartbeat(uint64_t mono_ns);
  void set_ready();
  uint64_t generation() const;

 private:
  StatsPageLayout* page_;
  std::vector<uint64_t> values_;
};

struct StatsSnapshot {
  uint32_t pid = 0;
  bool ready = false;
  uint64_t heartbeat_mono_ns = 0;
  uint64_t generation = 0;
  std::vector<std::pair<std::string, uint64_t>> counters;
  uint64_t value(std::string_view name, uint64_t dflt = 0) const;
};

class StatsReader {
 public:
  StatsReader(const void* segment, size_t size);
  StatsSnapshot snapshot() const;
  std::string metrics_text() const;
  std::string status_json() const;

 private:
  const StatsPageLayout* page_;
};

// True for names safe to use as a Prometheus metric/label fragment and as a JSON key.
bool stats_name_valid(std::string_view name);

}  // namespace ringward
