#include "common/stats.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

namespace ringward {
namespace {

constexpr uint64_t kStatsMagic = 0x3153544154535752ULL;  // "RWSTATS1"
constexpr uint32_t kStatsVersion = 1;

void write_text(StatsText& t, std::string_view s) {
  size_t n = std::min(s.size(), kStatsTextMax);
  t.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(t.bytes, s.data(), n);
  t.length = static_cast<uint32_t>(n);
  t.seq.fetch_add(1, std::memory_order_release);  // even: stable
}

std::string read_text(const StatsText& t) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint64_t s1 = t.seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    uint32_t len = std::min<uint32_t>(t.length, kStatsTextMax);
    std::string out(t.bytes, len);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (t.seq.load(std::memory_order_relaxed) == s1) return out;
  }
  return {};
}

}  // namespace

bool stats_name_valid(std::string_view name) {
  if (name.empty() || name.size() >= kStatsNameLen) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':';
  });
}

size_t stats_page_size() { return (sizeof(StatsPageLayout) + 4095) & ~size_t{4095}; }

void stats_page_format(void* segment, size_t size) {
  if (size < sizeof(StatsPageLayout)) throw std::invalid_argument("stats page segment too small");
  std::memset(segment, 0, sizeof(StatsPageLayout));
  auto* p = new (segment) StatsPageLayout;
  p->magic = kStatsMagic;
  p->version = kStatsVersion;
}

static StatsPageLayout* checked(const void* segment, size_t size) {
  if (size < sizeof(StatsPageLayout)) throw std::runtime_error("stats page segment too small");
  auto* p = static_cast<StatsPageLayout*>(const_cast<void*>(segment));
  if (p->magic != kStatsMagic || p->version != kStatsVersion)
    throw std::runtime_error("stats page has a bad magic or version");
  return p;
}

StatsWriter::StatsWriter(void* segment, size_t size)
    : page_(checked(segment, size)), values_(kStatsMaxCounters, 0) {
  uint32_t a = page_->active.load(std::memory_order_acquire) & 1;
  const StatsBlock& b = page_->blocks[a];
  std::memcpy(values_.data(), b.values, sizeof b.values);
  page_->generation.fetch_add(1, std::memory_order_relaxed);
  page_->ready.store(0, std::memory_order_relaxed);
}

size_t StatsWriter::counter(std::string_view name) {
  if (!stats_name_valid(name)) throw std::invalid_argument(fmt::format("bad counter name '{}'", name));
  uint32_t n = std::min<uint32_t>(page_->name_count.load(std::memory_order_acquire),
                                  kStatsMaxCounters);
  for (uint32_t i = 0; i < n; ++i)
    if (std::string_view(page_->names[i], strnlen(page_->names[i], kStatsNameLen)) == name) return i;
  if (n >= kStatsMaxCounters) throw std::length_error("stats page: too many counters");
  std::memset(page_->names[n], 0, kStatsNameLen);
  std::memcpy(page_->names[n], name.data(), name.size());
  values_[n] = 0;
  page_->name_count.store(n + 1, std::memory_order_release);
  return n;
}

void StatsWriter::publish() {
  uint32_t next = (page_->active.load(std::memory_order_relaxed) & 1) ^ 1;
  StatsBlock& b = page_->blocks[next];
  b.seq.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(b.values, values_.data(), sizeof b.values);
  b.seq.fetch_add(1, std::memory_order_release);
  page_->active.store(next, std::memory_order_release);
}

void StatsWriter::set_metrics_text(std::string_view text) { write_text(page_->metrics_text, text); }
void StatsWriter::set_status_json(std::string_view json) { write_text(page_->status_json, json); }
void StatsWriter::heartbeat(uint64_t mono_ns) {
  page_->pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
  page_->heartbeat_mono_ns.store(mono_ns, std::memory_order_release);
}
void StatsWriter::set_ready() { page_->ready.store(1, std::memory_order_release); }
uint64_t StatsWriter::generation() const { return page_->generation.load(std::memory_order_relaxed); }

uint64_t StatsSnapshot::value(std::string_view name, uint64_t dflt) const {
  for (const auto& [k, v] : counters)
    if (k == name) return v;
  return dflt;
}

StatsReader::StatsReader(const void* segment, size_t size) : page_(checked(segment, size)) {}

StatsSnapshot StatsReader::snapshot() const {
  StatsSnapshot s;
  s.pid = page_->pid.load(std::memory_order_relaxed);
  s.ready = page_->ready.load(std::memory_order_acquire) != 0;
  s.heartbeat_mono_ns = page_->heartbeat_mono_ns.load(std::memory_order_acquire);
  s.generation = page_->generation.load(std::memory_order_relaxed);
  uint32_t n = std::min<uint32_t>(page_->name_count.load(std::memory_order_acquire),
                                  kStatsMaxCounters);
  uint64_t values[kStatsMaxCounters];
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint32_t a = page_->active.load(std::memory_order_acquire) & 1;
    const StatsBlock& b = page_->blocks[a];
    uint64_t s1 = b.seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    std::memcpy(values, b.values, sizeof values);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (b.seq.load(std::memory_order_relaxed) == s1) break;
  }
  for (uint32_t i = 0; i < n; ++i) {
    std::string name(page_->names[i], strnlen(page_->names[i], kStatsNameLen));
    if (!stats_name_valid(name)) continue;  // hostile or torn: never propagate it
    s.counters.emplace_back(std::move(name), values[i]);
  }
  return s;
}

std::string StatsReader::metrics_text() const { return read_text(page_->metrics_text); }
std::string StatsReader::status_json() const { return read_text(page_->status_json); }

}  // namespace ringward
