// The supervisor and ringwardctl as an operator meets them, with real processes: restart backoff
// and the permanent-failure rule with a child that crashes on purpose, a child killed by seccomp
// reported with the syscall name, SIGHUP/reload with a bad file keeping the running config,
// ringwardctl refused for an unprivileged caller (exit 4), the status --json keys, and config
// errors naming file, line and key.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "tests/ops/ops_harness.h"

namespace ringward::ops_test {
namespace {

using namespace std::chrono_literals;

std::string write_script(const std::string& dir, const std::string& name, const std::string& body) {
  std::string p = dir + "/" + name;
  std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
  chmod(p.c_str(), 0755);
  return p;
}

TEST(Supervisor, CrashingChildBacksOffThenFailsPermanentlyOthersKeepRunning) {
  char tmpl[] = "/tmp/ringward-ops-crash-XXXXXX";
  std::string scripts = mkdtemp(tmpl);
  chmod(scripts.c_str(), 0755);
  std::string crash = write_script(scripts, "crash", "exit 1");
  Supervised s("restart_backoff_initial_ms = 20\nrestart_backoff_max_ms = 5000\nmax_restarts = 4\n"
               "restart_window_s = 60\n",
               {{"shipper", crash}});
  s.start();
  ASSERT_TRUE(s.wait_state("shipper", "failed", 30s)) << s.log();
  std::string st = s.status();
  Proc ship = proc(st, "shipper");
  EXPECT_EQ(ship.restarts, 4u);  // started 5 times: 5 deaths > max_restarts 4
  EXPECT_EQ(proc(st, "capture").state, "running");
  EXPECT_EQ(proc(st, "processor").state, "running");
  EXPECT_NE(st.find("\"health\":{\"state\":\"Unhealthy\""), std::string::npos) << st;
  EXPECT_NE(st.find("shipper permanently failed (exited with status 1)"), std::string::npos);

  // Every restart logged with its cause; the delays double from 4x the initial delay (the child
  // never became ready) and never shrink.
  std::string log = s.log();
  std::regex re("shipper: exited with status 1; restarting in ([0-9]+) ms");
  std::vector<int> delays;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    delays.push_back(std::stoi((*it)[1]));
  ASSERT_EQ(delays.size(), 4u) << log;
  EXPECT_EQ(delays, (std::vector<int>{80, 160, 320, 640}));
  EXPECT_NE(log.find("5 deaths within 60 s: marked permanently failed"), std::string::npos) << log;

  auto h = s.ctl({"health"});
  EXPECT_EQ(h.exit_code, 1) << h.out;  // Unhealthy: non-zero for scripts
  EXPECT_NE(h.out.find("Unhealthy"), std::string::npos);

  // The operator retries: the failure is forgotten and the child starts again.
  auto r = s.ctl({"restart", "shipper"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_until([&] { return proc(s.status(), "shipper").restarts > 4; }, 10s));
  std::filesystem::remove_all(scripts);
}

TEST(Supervisor, ChildKilledBySeccompIsReportedWithTheSyscall) {
  Supervised s("max_restarts = 1\nrestart_window_s = 60\n", {{"shipper", RW_SECCOMP_VICTIM_EXE}});
  s.start();
  ASSERT_TRUE(wait_until([&] { return s.log().find("seccomp violation") != std::string::npos; }, 20s)) << s.log();
  std::string log = s.log();
  EXPECT_NE(log.find("shipper: killed by signal 31 (SIGSYS): seccomp violation: syscall socket"),
            std::string::npos)
      << log;
  ASSERT_TRUE(s.wait_state("shipper", "failed", 20s));
  EXPECT_NE(s.status().find("seccomp violation: syscall socket"), std::string::npos);
}

TEST(Supervisor, SighupAndReloadWithABadFileKeepTheRunningConfig) {
  Supervised s("");
  s.start();
  ASSERT_TRUE(s.wait_running()) << s.log();
  std::string before = s.status();
  int proc_pid = proc(before, "processor").pid;
  ASSERT_GT(proc_pid, 0);

  s.write_config(s.base_config() + "[processor]\nmax_events_per_second = \"lots\"\n");
  kill(s.pid(), SIGHUP);
  ASSERT_TRUE(wait_until([&] { return s.log().find("reload refused") != std::string::npos; }, 10s)) << s.log();
  EXPECT_NE(s.log().find("key 'processor.max_events_per_second': expected an integer"), std::string::npos);
  std::this_thread::sleep_for(300ms);
  std::string after = s.status();
  EXPECT_EQ(proc(after, "processor").pid, proc_pid) << "a refused reload must not restart anything";
  EXPECT_EQ(proc(after, "processor").state, "running");

  auto r = s.ctl({"reload"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("reload refused, the running configuration stays: " + s.config_path() + ":"),
            std::string::npos)
      << r.err;

  // A good file is applied: the children restart with it.
  s.write_config(s.base_config() + "[processor]\nmax_events_per_second = 5000\n");
  r = s.ctl({"reload"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("reloaded"), std::string::npos);
  EXPECT_TRUE(wait_until([&] {
    Proc p = proc(s.status(), "processor");
    return p.pid != proc_pid && p.state == "running";
  }, 20s));
}

TEST(Ringwardctl, UnprivilegedCallerIsRefusedWithExitCode4) {
  Supervised s("");
  s.start();
  ASSERT_TRUE(s.wait_running()) << s.log();
  // The socket is reachable (no 'ringward' group here: mode 0666), so SO_PEERCRED decides.
  auto r = s.ctl({"status"}, 65534);
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'ringward' group"), std::string::npos) << r.err;
  EXPECT_NE(s.log().find("control socket: refused uid 65534"), std::string::npos);
  // Root is accepted.
  EXPECT_EQ(s.ctl({"status"}).exit_code, 0);
}

TEST(Ringwardctl, StatusJsonHasTheDocumentedStableKeys) {
  Supervised s("");
  s.start();
  ASSERT_TRUE(s.wait_running()) << s.log();
  std::this_thread::sleep_for(1500ms);
  auto r = s.ctl({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& j = r.out;
  for (const char* k : {"\"version\":", "\"supervisor_pid\":", "\"uptime_s\":", "\"health\":{\"state\":",
                        "\"reasons\":[", "\"processes\":[", "\"rings\":{\"raw\":{\"capacity_bytes\":",
                        "\"utilization\":", "\"sinks\":[", "\"accounting\":{\"captured\":", "\"generated\":",
                        "\"delivered\":", "\"dead_lettered\":", "\"in_flight\":", "\"dropped\":{",
                        "\"dropped_per_s\":{", "\"events_in_per_s\":", "\"events_out_per_s\":", "\"last_exit\":",
                        "\"user\":", "\"counters\":{", "\"status\":{"})
    EXPECT_NE(j.find(k), std::string::npos) << k << " missing in " << j;
  for (const char* name : {"capture", "processor", "shipper"}) {
    std::regex re(std::string("\\{\"name\":\"") + name +
                  "\",\"pid\":[0-9]+,\"state\":\"running\",\"restarts\":0,\"uptime_s\":[0-9.]+,");
    EXPECT_TRUE(std::regex_search(j, re)) << name << " in " << j;
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(j, m, std::regex("\"name\":\"capture\".*?\"events_in_per_s\":([0-9.]+)")));
  EXPECT_GT(std::stod(m[1]), 0.0) << "synthetic capture at 500/s";
  auto text = s.ctl({"status"});
  EXPECT_NE(text.out.find("IN/s"), std::string::npos) << text.out;
  auto top = s.ctl({"top", "--iterations", "1"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("ringwardctl top"), std::string::npos);
}

TEST(Ringwardctl, ConfigErrorsNameFileLineAndKeyAndExitCodes) {
  char tmpl[] = "/tmp/ringward-ops-cfg-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string bad = dir + "/bad.toml";
  std::ofstream(bad) << "[supervisor]\nmax_restarts = 3\n\n[processor]\nmax_events_per_second = -5\n";
  auto r = run({RW_CTL_EXE, "config", "check", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad + ":5: key 'processor.max_events_per_second': -5 is out of range"), std::string::npos)
      << r.err;
  std::ofstream(bad) << "[shipper]\nbuffer_dir = \"/x\"\nbuffer_dirr = \"/y\"\n";
  r = run({RW_CTL_EXE, "config", "check", bad});
  EXPECT_NE(r.err.find(bad + ":3: key 'shipper.buffer_dirr': unknown key"), std::string::npos) << r.err;
  r = run({RW_SUPERVISOR_EXE, "--check-config", "--config", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":3: key 'shipper.buffer_dirr'"), std::string::npos) << r.err;
  std::string good = dir + "/good.toml";
  std::ofstream(good) << "[[shipper.sinks]]\ntype = \"file\"\npath = \"/tmp/x.ndjson\"\n";
  r = run({RW_CTL_EXE, "config", "check", good});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Usage errors and an unreachable supervisor have their own codes.
  EXPECT_EQ(run({RW_CTL_EXE, "restart", "nonsense"}).exit_code, 2);
  EXPECT_EQ(run({RW_CTL_EXE, "-s", dir + "/none.sock", "status"}).exit_code, 3);
  // Environment overrides win and are validated with their variable's name.
  setenv("RINGWARD_SUPERVISOR_MAX_RESTARTS", "zero", 1);
  r = run({RW_CTL_EXE, "config", "check", good});
  unsetenv("RINGWARD_SUPERVISOR_MAX_RESTARTS");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("RINGWARD_SUPERVISOR_MAX_RESTARTS"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ringward::ops_test
