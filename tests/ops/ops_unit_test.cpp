// Unit tests of the supervisor's policies as pure functions: restart backoff and the
// permanent-failure rule (driven with explicit times), health aggregation, the bounded JSON reader
// against hostile input, the seccomp audit record parser, identities, and config error messages.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "common/config.h"
#include "supervisor/child.h"
#include "supervisor/health.h"
#include "common/json.h"
#include "supervisor/seccomp_audit.h"
#include "supervisor/supervisor.h"

namespace ringward::supervisor {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kS = 1'000'000'000;

int exited(int code) { return (code & 0xff) << 8; }  // a wait status for exit(code)
int signaled(int sig) { return sig & 0x7f; }

SupervisorConfig policy() {
  SupervisorConfig c;
  c.restart_backoff_initial_ms = 100;
  c.restart_backoff_max_ms = 1000;
  c.stable_after_s = 30;
  c.max_restarts = 3;
  c.restart_window_s = 60;
  return c;
}

TEST(RestartPolicy, NeverReadyChildBacksOffHarderAndDoubles) {
  SupervisorConfig cfg = policy();
  Child c({"shipper", "/bin/false", {}, "", false}, cfg);
  uint64_t t = 1 * kS;
  c.on_exit(exited(1), t);
  EXPECT_EQ(c.state(), ChildState::backoff);
  EXPECT_EQ(c.next_start_ns() - t, 400 * kMs);  // never ready: at least 4x the initial delay
  EXPECT_FALSE(c.restart_due(t + 399 * kMs));
  EXPECT_TRUE(c.restart_due(t + 400 * kMs));
  t += 1 * kS;
  c.on_exit(exited(1), t);
  EXPECT_EQ(c.next_start_ns() - t, 800 * kMs);
  t += 1 * kS;
  c.on_exit(exited(1), t);
  EXPECT_EQ(c.next_start_ns() - t, 1000 * kMs);  // capped at restart_backoff_max_ms
}

TEST(RestartPolicy, ReadyChildStartsAtInitialDelayAndResetsWhenStable) {
  SupervisorConfig cfg = policy();
  cfg.max_restarts = 100;
  Child c({"processor", "/bin/sh", {"-c", "exec sleep 10", "sh"}, "", false}, cfg);
  uint64_t t = 1 * kS;
  c.on_ready(t);  // not started, so still stopped: on_ready only promotes `starting`
  c.on_exit(exited(1), t);
  // Not ready before: 4x initial.
  EXPECT_EQ(c.next_start_ns() - t, 400 * kMs);
  ASSERT_TRUE(c.start(c.next_start_ns()));
  uint64_t started = c.next_start_ns();
  c.on_ready(started + 10 * kMs);
  EXPECT_EQ(c.state(), ChildState::running);
  c.request_stop(SIGKILL);
  int st;
  waitpid(c.pid(), &st, 0);
  // Ran ready for 40 s (> stable_after_s): back to the initial delay.
  c.on_exit(st, started + 40 * kS);
  EXPECT_EQ(c.next_start_ns() - (started + 40 * kS), 100 * kMs);
  EXPECT_NE(c.last_exit().find("killed by signal 9"), std::string::npos) << c.last_exit();
}

TEST(RestartPolicy, PermanentFailureAfterNDeathsInWindowAndOperatorReset) {
  SupervisorConfig cfg = policy();
  Child c({"shipper", "/bin/false", {}, "", false}, cfg);
  uint64_t t = 10 * kS;
  for (int i = 0; i < 3; ++i) {
    c.on_exit(exited(1), t);
    EXPECT_EQ(c.state(), ChildState::backoff) << i;
    t += 5 * kS;
  }
  c.on_exit(exited(1), t);  // 4th death within 60 s: more than max_restarts
  EXPECT_EQ(c.state(), ChildState::failed);
  EXPECT_FALSE(c.restart_due(t + 3600 * kS));
  c.reset_failure();
  EXPECT_TRUE(c.restart_due(t));
}

TEST(RestartPolicy, DeathsOutsideTheWindowDoNotCount) {
  SupervisorConfig cfg = policy();
  Child c({"shipper", "/bin/false", {}, "", false}, cfg);
  uint64_t t = 10 * kS;
  for (int i = 0; i < 10; ++i) {
    c.on_exit(exited(1), t);
    EXPECT_NE(c.state(), ChildState::failed) << i;
    t += 30 * kS;  // two deaths per window at most
  }
}

TEST(RestartPolicy, DescribesSeccompDeathWithDetail) {
  SupervisorConfig cfg = policy();
  Child c({"processor", "/bin/false", {}, "", false}, cfg);
  std::string cause = c.on_exit(signaled(SIGSYS), 1 * kS, "syscall socket");
  EXPECT_EQ(cause, "killed by signal 31 (SIGSYS): seccomp violation: syscall socket");
}

TEST(SeccompAudit, ParsesKernelRecordAndResolvesName) {
  auto r = parse_seccomp_audit(
      "audit: type=1326 audit(1795441954.609:50): auid=4294967295 uid=65534 gid=65534 "
      "ses=4294967295 pid=21459 comm=\"x\" exe=\"/x\" sig=31 arch=c000003e syscall=41 compat=0 "
      "ip=0x7f73e7f28dc7 code=0x80000000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pid, 21459);
  EXPECT_EQ(r->syscall, 41);
  EXPECT_EQ(r->syscall_name, "socket");
  EXPECT_FALSE(parse_seccomp_audit("audit: type=1300 pid=1 arch=c000003e syscall=41"));
  EXPECT_FALSE(parse_seccomp_audit("type=1326 pid=abc arch=c000003e syscall=41"));
  EXPECT_FALSE(parse_seccomp_audit("type=1326 pid=12 arch=c000003e"));
  EXPECT_EQ(resolve_syscall_name(0xc000003e, 100000), "syscall 100000 (arch 0xc000003e)");
}

TEST(JsonLite, ParsesStatusAndRejectsHostileInput) {
  auto v = parse_status_json(R"({"sinks":[{"name":"hec","state":"unavailable","x":[1,2.5,-3e2]}],"ok":true,"s":"a\"\u00e9"})");
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["sinks"].items.at(0)["state"].str(), "unavailable");
  EXPECT_TRUE((*v)["ok"].flag());
  EXPECT_EQ((*v)["s"].str(), "a\"\xc3\xa9");
  EXPECT_EQ((*v)["missing"]["deeper"].str("d"), "d");
  std::string err;
  EXPECT_FALSE(parse_status_json(std::string(100, '[') + std::string(100, ']'), &err));
  EXPECT_NE(err.find("deep"), std::string::npos);
  EXPECT_FALSE(parse_status_json("{\"a\":1,}", &err));
  EXPECT_FALSE(parse_status_json("{\"a\":\"\x01\"}", &err));
  EXPECT_FALSE(parse_status_json("{\"a\":1} trailing", &err));
  EXPECT_FALSE(parse_status_json(std::string(300 * 1024, ' '), &err));
  JsonLimits small;
  small.max_elements = 10;
  EXPECT_FALSE(parse_status_json("[1,2,3,4,5,6,7,8,9,10,11,12]", &err, small));
}

HealthInputs running_children() {
  HealthInputs in;
  for (const char* n : {"capture", "processor", "shipper"}) in.children.push_back({n, "running", "", 0.1});
  return in;
}

TEST(Health, Aggregation) {
  HealthThresholds th;
  EXPECT_EQ(evaluate_health({}, th).state, Health::unknown);
  auto in = running_children();
  EXPECT_EQ(evaluate_health(in, th).state, Health::healthy);

  in.drops_in_window["processor.load_shed"] = 120;
  auto r = evaluate_health(in, th);
  EXPECT_EQ(r.state, Health::degraded);
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_NE(r.reasons[0].find("processor.load_shed 120"), std::string::npos) << r.reasons[0];
  th.drops_per_s = 5;  // 120 in 60 s = 2/s: below the threshold
  EXPECT_EQ(evaluate_health(in, th).state, Health::healthy);

  in = running_children();
  in.children[2].heartbeat_age_s = 60;
  EXPECT_EQ(evaluate_health(in, th).state, Health::degraded);

  in = running_children();
  in.children[1].state = "failed";
  in.children[1].last_exit = "exited with status 1";
  r = evaluate_health(in, th);
  EXPECT_EQ(r.state, Health::unhealthy);
  EXPECT_NE(r.reasons[0].find("processor permanently failed (exited with status 1)"), std::string::npos);

  in = running_children();
  in.kernel_drop_fraction = 0.02;
  EXPECT_EQ(evaluate_health(in, th).state, Health::degraded);
}

TEST(Health, SinksAndProcessorStatusFromTheirPages) {
  HealthThresholds th;
  auto in = running_children();
  auto ship = parse_status_json(R"({"buffer":{"use":0.1,"full":false},"sinks":[
      {"name":"hec","state":"unavailable","breaker":"open","last_error":"connect: refused"},
      {"name":"file","state":"normal","breaker":"closed"}]})");
  ASSERT_TRUE(ship);
  in.shipper_status = &*ship;
  auto r = evaluate_health(in, th);
  EXPECT_EQ(r.state, Health::degraded);
  EXPECT_EQ(r.reasons.at(0), "sink hec is unavailable (circuit open): connect: refused");

  auto all_down = parse_status_json(R"({"sinks":[{"name":"hec","state":"unavailable","breaker":"open"}]})");
  in.shipper_status = &*all_down;
  EXPECT_EQ(evaluate_health(in, th).state, Health::unhealthy);

  auto full = parse_status_json(R"({"buffer":{"use":1.0,"full":true},"sinks":[]})");
  in.shipper_status = &*full;
  EXPECT_EQ(evaluate_health(in, th).state, Health::degraded);

  in.shipper_status = nullptr;
  auto proc = parse_status_json(R"({"backpressure_level":"critical","circuit_breaker":"closed"})");
  in.processor_status = &*proc;
  r = evaluate_health(in, th);
  EXPECT_EQ(r.state, Health::degraded);
  EXPECT_NE(r.reasons.at(0).find("backpressure level critical"), std::string::npos);
}

TEST(RateWindow, RatesAndCounterResets) {
  RateWindow w(60 * kS);
  w.add(0, {{"a", 0}});
  w.add(1 * kS, {{"a", 100}});
  w.add(2 * kS, {{"a", 300}});
  EXPECT_DOUBLE_EQ(w.rate("a", 2 * kS), 150.0);
  EXPECT_EQ(w.increase("a", 1 * kS), 200u);
  w.add(3 * kS, {{"a", 10}});  // page re-formatted: not a negative rate
  EXPECT_EQ(w.increase("a", 1 * kS), 10u);
}

TEST(Identity, FallbackAndExplicitUsers) {
  std::string warning, error;
  auto root = resolve_identity("root", "nobody", warning, error);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->uid, 0u);
  auto fb = resolve_identity("", "nobody", warning, error);
  ASSERT_TRUE(fb);
  EXPECT_EQ(fb->user, "nobody");
  EXPECT_NE(fb->uid, 0u);
  auto missing = resolve_identity("", "ringward-no-such-user", warning, error);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->uid, 0u);
  EXPECT_NE(warning.find("running it as root"), std::string::npos);
  EXPECT_FALSE(resolve_identity("ringward-no-such-user", "nobody", warning, error));
  EXPECT_NE(error.find("does not exist"), std::string::npos);
}

TEST(Config, ErrorsNameFileLineAndKey) {
  auto r = load_config_text("[supervisor]\nhealth_window_s = 1\n[[shipper.sinks]]\ntype = \"file\"\npath = \"/x\"\n",
                            "/etc/ringward/ringward.toml");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.error, "/etc/ringward/ringward.toml:2: key 'supervisor.health_window_s': 1 is out of range [5, 86400]");
  r = load_config_text("[processor]\n\nmax_events_per_second = \"many\"\n", "f.toml");
  EXPECT_EQ(r.error, "f.toml:3: key 'processor.max_events_per_second': expected an integer");
  r = load_config_text("[shipper]\nbufer_dir = \"/x\"\n", "f.toml");
  EXPECT_EQ(r.error, "f.toml:2: key 'shipper.bufer_dir': unknown key");
  r = load_config_text("[supervisor]\nseccomp_audit = \"yes\"\n", "f.toml");
  EXPECT_EQ(r.error, "f.toml:2: key 'supervisor.seccomp_audit': expected true or false");
  auto d = load_config("");
  ASSERT_TRUE(d.config) << d.error;
  EXPECT_EQ(d.config->supervisor.health_window_s, 60);
  EXPECT_TRUE(d.config->supervisor.seccomp_audit);
}

}  // namespace
}  // namespace ringward::supervisor
