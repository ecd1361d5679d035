// FileSink (NDJSON, rotation, undecodable records) and MonitorServer (real HTTP over loopback,
// strict Prometheus format check, health codes, bounded idle connections) tests.

// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s std::regex when built with
// -fsanitize=address (the sanitizer CI build); the regexes here are the format checker's.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "shipper/core/file_sink.h"
#include "shipper/core/monitor_server.h"
#include "shipper/core/shipper_metrics.h"
#include "test_util.h"

namespace ringward::shipper {
namespace {

using testing::make_event;
using testing::TempDir;

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);) v.push_back(l);
  return v;
}

TEST(FileSink, WritesOneJsonObjectPerLine) {
  TempDir d;
  io::IoError err;
  auto s = FileSink::open({d.path() / "out" / "events.ndjson", 1 << 20, 3, true}, err);
  ASSERT_TRUE(err.ok()) << err.what;
  std::vector<OutEvent> batch = {make_event(1), make_event(2, schema::Priority::CRITICAL)};
  auto r = s->send(batch);
  EXPECT_EQ(r.status, SendStatus::ok);
  EXPECT_TRUE(r.rejected.empty());
  auto lines = lines_of(d.path() / "out" / "events.ndjson");
  ASSERT_EQ(lines.size(), 2u);
  for (auto& l : lines) {
    EXPECT_EQ(l.front(), '{');
    EXPECT_EQ(l.back(), '}');
  }
  EXPECT_NE(lines[1].find("critical"), std::string::npos);
  EXPECT_NE(lines[0].find("test-host"), std::string::npos);
}

TEST(FileSink, UndecodableRecordIsRejectedNotWritten) {
  TempDir d;
  io::IoError err;
  auto s = FileSink::open({d.path() / "e.ndjson", 1 << 20, 3, false}, err);
  std::vector<OutEvent> batch = {make_event(1), make_event(2), make_event(3)};
  batch[1].record = std::string(24, '\xff');
  auto r = s->send(batch);
  EXPECT_EQ(r.status, SendStatus::ok);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].index, 1u);
  EXPECT_EQ(lines_of(d.path() / "e.ndjson").size(), 2u);
}

TEST(FileSink, RotatesBySizeKeepingMaxFiles) {
  TempDir d;
  io::IoError err;
  auto p = d.path() / "e.ndjson";
  auto s = FileSink::open({p, 8192, 2, false}, err);
  for (uint64_t i = 1; i <= 200; ++i) {
    std::vector<OutEvent> b = {make_event(i)};
    ASSERT_EQ(s->send(b).status, SendStatus::ok);
  }
  EXPECT_GT(s->rotations(), 2u);
  EXPECT_TRUE(std::filesystem::exists(p));
  EXPECT_TRUE(std::filesystem::exists(p.string() + ".1"));
  EXPECT_TRUE(std::filesystem::exists(p.string() + ".2"));
  EXPECT_FALSE(std::filesystem::exists(p.string() + ".3"));
  for (auto f : {p.string(), p.string() + ".1", p.string() + ".2"})
    EXPECT_LE(std::filesystem::file_size(f), 8192u);
  auto last = lines_of(p);
  ASSERT_FALSE(last.empty());
  EXPECT_NE(last.back().find("200"), std::string::npos);
}

// Strict check of the Prometheus text format (what `promtool check metrics` enforces that matters
// here): HELP/TYPE once per family before its samples, samples of a family contiguous, valid
// names, escaped label values, parseable values, counters named *_total, no duplicate series.
std::string check_prometheus(const std::string& text) {
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)|NaN|[-+]Inf)$)");
  std::set<std::string> done_families, series, helped;
  std::map<std::string, std::string> types;
  std::string current;
  std::istringstream in(text);
  int n = 0;
  for (std::string l; std::getline(in, l);) {
    ++n;
    std::smatch m;
    auto where = "line " + std::to_string(n) + ": '" + l + "': ";
    if (l.empty()) return where + "empty line";
    if (std::regex_match(l, m, help)) {
      if (!helped.insert(m[1]).second) return where + "second HELP";
      if (current != m[1] && done_families.count(m[1])) return where + "family split";
      if (current != m[1] && !current.empty()) done_families.insert(current);
      current = m[1];
      continue;
    }
    if (std::regex_match(l, m, type)) {
      if (types.count(m[1])) return where + "second TYPE";
      if (m[1] != current) return where + "TYPE without HELP";
      types[m[1]] = m[2];
      if (m[2] == "counter" && !std::string(m[1]).ends_with("_total")) return where + "counter without _total";
      continue;
    }
    if (l[0] == '#') return where + "bad comment";
    if (!std::regex_match(l, m, sample)) return where + "bad sample";
    if (m[1] != current) return where + "sample outside its family";
    if (!types.count(m[1])) return where + "sample before TYPE";
    if (!series.insert(std::string(m[1]) + std::string(m[2])).second) return where + "duplicate series";
  }
  if (n == 0) return "empty";
  return "";
}

ShipperSnapshot sample_snapshot() {
  ShipperSnapshot s;
  s.buffer.bytes = 100;
  s.buffer.max_bytes = 1000;
  s.buffer.dropped[kDropBufferFull] = 3;
  s.buffer.last_error = "weird \"quoted\"\nerror";
  SinkWorkerStats a;
  a.name = "file:/var/log/x \"y\"";
  a.delivered = 10;
  a.dropped["buffer_full"] = 3;
  a.backpressure_seconds = 1.25;
  SinkWorkerStats b;
  b.name = "splunk_hec:http://127.0.0.1:8088";
  b.state = SinkHealth::unavailable;
  b.last_error = "connection refused";
  s.sinks = {a, b};
  return s;
}

TEST(ShipperMetrics, PrometheusTextIsStrictlyValid) {
  auto text = shipper_metrics_text(sample_snapshot());
  EXPECT_EQ(check_prometheus(text), "") << text;
  EXPECT_NE(text.find("ringward_shipper_sink_delivered_total{sink=\"file:/var/log/x \\\"y\\\"\"} 10"),
            std::string::npos);
  // The checker itself must reject bad text.
  EXPECT_NE(check_prometheus("foo 1\n"), "");
  EXPECT_NE(check_prometheus("# HELP a_total x\n# TYPE a_total counter\na_total{l=\"\n\"} 1\n"), "");
  EXPECT_NE(check_prometheus("# HELP a x\n# TYPE a counter\na 1\n"), "");
  // promtool, when installed, must agree.
  if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
    TempDir d;
    std::ofstream(d.path() / "m.txt") << text;
    std::string cmd = "promtool check metrics < " + (d.path() / "m.txt").string() + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
}

TEST(ShipperMetrics, HealthFollowsSinkStates) {
  auto s = sample_snapshot();
  auto h = shipper_health(s);
  EXPECT_EQ(h.state, HealthState::degraded);
  ASSERT_FALSE(h.reasons.empty());
  EXPECT_NE(h.reasons[0].find("connection refused"), std::string::npos);
  s.sinks[0].state = SinkHealth::unavailable;
  EXPECT_EQ(shipper_health(s).state, HealthState::unhealthy);
  s.sinks[0].state = s.sinks[1].state = SinkHealth::normal;
  EXPECT_EQ(shipper_health(s).state, HealthState::healthy);
  s.sinks.clear();
  EXPECT_EQ(shipper_health(s).state, HealthState::unknown);
}

TEST(MonitorServer, ServesIndexHealthMetricsStatsOverLoopback) {
  MonitorOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  o.read_timeout = std::chrono::seconds(1);
  MonitorServer srv(o);
  std::atomic<int> health_state{0};
  srv.add_metrics([] { return std::string("# HELP ringward_capture_events_total Events.\n# TYPE ringward_capture_events_total counter\nringward_capture_events_total 5\n"); });
  srv.add_metrics([] { return shipper_metrics_text(sample_snapshot()); });
  srv.set_health([&] {
    HealthReport h;
    h.state = health_state == 0 ? HealthState::healthy : HealthState::unhealthy;
    if (health_state) h.reasons.push_back("all sinks \"down\"");
    return h;
  });
  srv.set_stats([] { return shipper_stats_json(sample_snapshot()); });
  std::string err;
  ASSERT_TRUE(srv.start(err)) << err;
  ASSERT_GT(srv.port(), 0);

  httplib::Client c("127.0.0.1", srv.port());
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  auto idx = c.Get("/");
  ASSERT_TRUE(idx);
  EXPECT_EQ(idx->status, 200);
  EXPECT_NE(idx->body.find("/metrics"), std::string::npos);

  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "{\"status\":\"Healthy\",\"reasons\":[]}\n");
  health_state = 1;
  h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  EXPECT_EQ(h->body, "{\"status\":\"Unhealthy\",\"reasons\":[\"all sinks \\\"down\\\"\"]}\n");

  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_EQ(check_prometheus(m->body), "") << m->body;
  EXPECT_NE(m->body.find("ringward_capture_events_total 5"), std::string::npos);

  auto st = c.Get("/stats");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
  for (auto key : {"\"buffer\"", "\"sinks\"", "\"state\":\"unavailable\"", "\"backpressure_seconds\":1.250",
                   "\"retries\"", "\"dropped\":{\"buffer_full\":3}", "\"use\":0.100"})
    EXPECT_NE(st->body.find(key), std::string::npos) << key << " in " << st->body;

  EXPECT_EQ(c.Get("/nope")->status, 404);
  auto post = c.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);

  // Idle connections hold a handler only until the read timeout: the server keeps answering.
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(srv.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    idle.push_back(fd);
  }
  httplib::Client c2("127.0.0.1", srv.port());
  c2.set_read_timeout(30);
  auto late = c2.Get("/health");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503);
  for (int fd : idle) ::close(fd);
  srv.stop();
  EXPECT_FALSE(httplib::Client("127.0.0.1", srv.port()).Get("/"));
}

TEST(MonitorServer, RefusesBadListenAddress) {
  MonitorOptions o;
  o.listen = "127.0.0.1";
  MonitorServer srv(o);
  std::string err;
  EXPECT_FALSE(srv.start(err));
  EXPECT_NE(err.find("host:port"), std::string::npos);
  MonitorOptions busy;
  busy.listen = "127.0.0.1:0";
  MonitorServer a(busy);
  ASSERT_TRUE(a.start(err));
  MonitorOptions same;
  same.listen = "127.0.0.1:" + std::to_string(a.port());
  MonitorServer b(same);
  EXPECT_FALSE(b.start(err));
  EXPECT_NE(err.find("cannot bind"), std::string::npos);
}

}  // namespace
}  // namespace ringward::shipper

namespace ringward::shipper {
namespace {

TEST(FileSink, CrashRecoveryCutsTornLineAndSkipsWhatTheFileHas) {
  testing::TempDir d;
  auto p = d.path() / "e.ndjson";
  io::IoError err;
  {
    auto s = FileSink::open({p, 1 << 20, 2, true}, err);
    std::vector<OutEvent> b;
    for (uint64_t i = 1; i <= 5; ++i) b.push_back(testing::make_event(i));
    b.push_back(testing::make_event((1ull << 63) | 3));
    ASSERT_EQ(s->send(b).status, SendStatus::ok);
  }
  std::ofstream(p, std::ios::app) << "{\"id\":\"6\",\"torn";  // crash mid-line
  auto s = FileSink::open({p, 1 << 20, 2, true}, err);
  ASSERT_TRUE(err.ok());
  EXPECT_GT(s->repaired_bytes(), 0u);
  EXPECT_EQ(s->last_id_at_open(0), 5u);
  EXPECT_EQ(s->last_id_at_open(1), (1ull << 63) | 3);
  // The buffer replays 4..7: 4 and 5 are already there.
  std::vector<OutEvent> replay;
  for (uint64_t i = 4; i <= 7; ++i) replay.push_back(testing::make_event(i));
  auto r = s->send(replay);
  EXPECT_EQ(r.status, SendStatus::ok);
  EXPECT_EQ(r.duplicates, 2u);
  auto lines = lines_of(p);
  ASSERT_EQ(lines.size(), 8u);  // 1..5, origin-1 #3, 6, 7
  std::set<std::string> uniq(lines.begin(), lines.end());
  EXPECT_EQ(uniq.size(), 8u);
  for (auto& l : lines) EXPECT_EQ(l.back(), '}');
}

}  // namespace
}  // namespace ringward::shipper
