// End-to-end tests of the whole pipeline under the supervisor: real processes, real shared
// memory, the real sandbox, the real NDJSON sink.
#include <gtest/gtest.h>

#include "harness.h"

namespace ringward::testing {
namespace {

constexpr uint64_t kEvents = 200'000;
const std::string kUnlimited =
    "[processor]\nmax_events_per_second = 100000000\nburst = 100000000\n";
// Rings that hold the backlog of a child that is not reading: the processor's start-up (1.9 s
// under ASan on a slow machine, while capture already writes) or a killed child's restart, and
// the catch-up after it. The default 16 MiB holds about two seconds at this rate, and the
// processor sheds, by policy, long before the out ring is full.
const std::string kRoomForABacklog = "event_buffer_size = 134217728\n";

std::string describe(const std::string& status) { return "status: " + status; }

// Quiescence: every captured event delivered and nothing in flight. The processor adds events of
// its own (endpoint health, resource reports), so delivered = captured + generated.
bool quiescent(Pipeline& p) {
  std::string s = p.status();
  return json_u64(s, "captured") == kEvents && json_u64(s, "in_flight") == 0 &&
         json_u64(s, "delivered") >= kEvents + json_u64(s, "generated");
}

TEST(Pipeline, SyntheticEventsAllArriveExactlyOnce) {
  // Paced below what the shipper sustains on a loaded 2-core machine, so the processor has no
  // reason to shed (shedding under a flood is tested by the processor's own suites).
  Pipeline p("[capture]\nsource = \"synthetic\"\nsynthetic_events = " + std::to_string(kEvents) +
             "\nsynthetic_rate = 25000\n" + kUnlimited,
             kRoomForABacklog);
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  ASSERT_TRUE(wait_until([&] { return quiescent(p); }, std::chrono::seconds(120)))
      << describe(p.status()) << p.log();
  std::string s = p.status();
  EXPECT_EQ(json_u64(s, "captured"), kEvents);
  const uint64_t generated = json_u64(s, "generated");
  EXPECT_EQ(json_u64(s, "delivered"), kEvents + generated) << describe(s);
  EXPECT_EQ(json_u64(s, "unexplained"), 0u) << describe(s);
  EXPECT_EQ(json_u64(s, "duplicates"), 0u);
  auto lines = p.sink_lines();
  ASSERT_EQ(lines.size(), kEvents + generated);
  std::set<std::string> ids;
  for (const auto& l : lines) {
    ASSERT_EQ(l.back(), '}');
    ASSERT_NE(l.find("\"type\":\""), std::string::npos);
    ASSERT_NE(l.find("\"priority\":\""), std::string::npos);
    ASSERT_NE(l.find("\"pid\":"), std::string::npos);
    ASSERT_NE(l.find("\"comm\":\""), std::string::npos);
    ASSERT_NE(l.find("\"time\":\""), std::string::npos);
    ids.insert(line_id(l));
  }
  EXPECT_EQ(ids.size(), kEvents + generated);
  EXPECT_EQ(ids.count(""), 0u);
  // Graceful stop drains and exits 0.
  int st = p.stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST(Pipeline, ProcessorKilledMidStreamLosesNothing) {
  Pipeline p("[capture]\nsource = \"synthetic\"\nsynthetic_events = " + std::to_string(kEvents) +
             "\nsynthetic_rate = 25000\n" + kUnlimited,
             kRoomForABacklog);
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  ASSERT_TRUE(wait_until([&] { return json_u64(p.status(), "delivered") > 40'000; },
                         std::chrono::seconds(60)));
  int victim = process_info(p.status(), "processor").pid;
  ASSERT_GT(victim, 0);
  ASSERT_EQ(0, kill(victim, SIGKILL));
  ASSERT_TRUE(wait_until([&] {
    auto pi = process_info(p.status(), "processor");
    return pi.state == "running" && pi.pid != victim;
  }, std::chrono::seconds(20))) << p.log();
  EXPECT_GE(process_info(p.status(), "processor").restarts, 1u);
  ASSERT_TRUE(wait_until([&] { return quiescent(p); }, std::chrono::seconds(120)))
      << describe(p.status()) << p.log();
  std::string s = p.status();
  const uint64_t expected = kEvents + json_u64(s, "generated");
  EXPECT_EQ(json_u64(s, "unexplained"), 0u) << describe(s);
  auto lines = p.sink_lines();
  std::set<std::string> ids;
  for (const auto& l : lines) ids.insert(line_id(l));
  EXPECT_EQ(ids.size(), expected) << "distinct ids in the sink";
  // Duplicates are allowed but counted: the file holds each event once, the shipper counted the rest.
  EXPECT_EQ(lines.size(), expected);
  EXPECT_NE(p.log().find("processor: killed by signal 9"), std::string::npos);
}

TEST(Pipeline, ShipperKilledMidStreamLosesNothing) {
  Pipeline p("[capture]\nsource = \"synthetic\"\nsynthetic_events = " + std::to_string(kEvents) +
                 "\nsynthetic_rate = 25000\n" + kUnlimited,
             kRoomForABacklog);
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  ASSERT_TRUE(wait_until([&] { return json_u64(p.status(), "delivered") > 40'000; },
                         std::chrono::seconds(60)));
  int victim = process_info(p.status(), "shipper").pid;
  ASSERT_EQ(0, kill(victim, SIGKILL));
  ASSERT_TRUE(wait_until([&] { return quiescent(p); }, std::chrono::seconds(120)))
      << describe(p.status()) << p.log();
  std::string s = p.status();
  const uint64_t expected = kEvents + json_u64(s, "generated");
  EXPECT_EQ(json_u64(s, "unexplained"), 0u) << describe(s);
  auto lines = p.sink_lines();
  std::set<std::string> ids;
  for (const auto& l : lines) ids.insert(line_id(l));
  EXPECT_EQ(ids.size(), expected) << "distinct ids in the sink";
  EXPECT_EQ(lines.size(), expected) << "lines in the sink (a replayed event written twice?)";
}

TEST(Pipeline, StatusTextAndJsonAnswerOnTheControlSocket) {
  Pipeline p("[capture]\nsource = \"synthetic\"\nsynthetic_events = 1000\n");
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  std::string text = p.command("status");
  EXPECT_EQ(text.rfind("OK\n", 0), 0u);
  EXPECT_NE(text.find("PROCESS"), std::string::npos);
  std::string json = p.status();
  for (const char* key : {"\"processes\":[", "\"accounting\":{", "\"captured\":", "\"delivered\":",
                          "\"dead_lettered\":", "\"in_flight\":", "\"dropped\":{", "\"uptime_s\":"})
    EXPECT_NE(json.find(key), std::string::npos) << key;
  EXPECT_EQ(p.command("bogus").rfind("ERR unknown command", 0), 0u);
}

}  // namespace
}  // namespace ringward::testing
