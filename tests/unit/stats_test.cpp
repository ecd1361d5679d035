// Statistics pages: snapshots survive a writer restart, hostile names are not propagated.
#include <sys/mman.h>

#include <cstring>

#include <gtest/gtest.h>

#include "common/stats.h"

namespace ringward {
namespace {

struct Page {
  Page() : size(stats_page_size()), p(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    stats_page_format(p, size);
  }
  ~Page() { munmap(p, size); }
  size_t size;
  void* p;
};

TEST(Stats, PublishedSnapshotIsWhatReadersSee) {
  Page page;
  StatsWriter w(page.p, page.size);
  size_t a = w.counter("in"), b = w.counter("dropped.processor.rate_limit");
  w.add(a, 5);
  StatsReader r(page.p, page.size);
  EXPECT_EQ(r.snapshot().value("in"), 0u);  // not yet published
  w.publish();
  w.add(b, 2);
  w.publish();
  auto s = r.snapshot();
  EXPECT_EQ(s.value("in"), 5u);
  EXPECT_EQ(s.value("dropped.processor.rate_limit"), 2u);
}

TEST(Stats, RestartedWriterContinuesFromTheLastSnapshot) {
  Page page;
  {
    StatsWriter w(page.p, page.size);
    w.add(w.counter("captured"), 100);
    w.publish();
    w.add(w.counter("captured"), 7);  // never published: lost with the "crash"
  }
  StatsWriter again(page.p, page.size);
  EXPECT_EQ(again.get(again.counter("captured")), 100u);
  EXPECT_EQ(again.generation(), 2u);
}

TEST(Stats, HostileNamesAndLengthsAreContained) {
  Page page;
  StatsWriter w(page.p, page.size);
  EXPECT_THROW(w.counter("Bad Name\n"), std::invalid_argument);
  w.counter("ok");
  w.publish();
  auto* layout = static_cast<StatsPageLayout*>(page.p);
  layout->name_count.store(100000);
  std::memcpy(layout->names[0], "x{\"y\n", 6);
  layout->metrics_text.length = 0xffffffff;
  StatsReader r(page.p, page.size);
  auto s = r.snapshot();
  for (auto& [k, v] : s.counters) EXPECT_TRUE(stats_name_valid(k)) << k;
  EXPECT_LE(r.metrics_text().size(), kStatsTextMax);
}

TEST(Stats, TextBlobsRoundTrip) {
  Page page;
  StatsWriter w(page.p, page.size);
  w.set_metrics_text("a 1\nb 2\n");
  w.set_status_json(R"({"k":1})");
  StatsReader r(page.p, page.size);
  EXPECT_EQ(r.metrics_text(), "a 1\nb 2\n");
  EXPECT_EQ(r.status_json(), R"({"k":1})");
}

}  // namespace
}  // namespace ringward

#include "common/stats_prometheus.h"

namespace ringward {
namespace {

TEST(StatsPrometheus, RendersCountersAndDropsWithLabels) {
  StatsSnapshot s;
  s.ready = true;
  s.counters = {{"in", 5}, {"dropped.processor.rate_limit", 3}, {"in_pos", 99}};
  std::string out;
  append_stats_prometheus({{"processor", s}}, out);
  EXPECT_NE(out.find("# TYPE ringward_processor_in_total counter\nringward_processor_in_total 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ringward_processor_in_pos 99\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ringward_events_dropped_total{process=\"processor\",stage=\"processor\",reason=\"rate_limit\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ringward_processor_up 1\n"), std::string::npos);
}

TEST(StatsPrometheus, HostileMetricsTextIsFiltered) {
  std::string out;
  size_t rejected = append_sanitized_metrics(
      "# TYPE a counter\na{x=\"1\"} 2\nevil line here\nb{x=\"unterminated} 1\n# EOF junk\nc 1e3\n"
      "d{q=\"a\\\"b\"} 4 1700000000\n", out);
  EXPECT_EQ(rejected, 3u);
  EXPECT_EQ(out, "# TYPE a counter\na{x=\"1\"} 2\nc 1e3\nd{q=\"a\\\"b\"} 4 1700000000\n");
}

}  // namespace
}  // namespace ringward
