// Test harness for the ops suite: a real supervisor with real children (or stand-ins from a
// custom libexec directory) in a temp dir, driven over its real control socket and by signals.
// Trust: test only. Kills only the processes it started, by pid.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

namespace ringward::ops_test {

inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

struct Proc {
  int pid = -1;
  std::string state;
  uint64_t restarts = 0;
};

inline Proc proc(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"name\":\"" + name + "\",\"pid\":([0-9]+),\"state\":\"([a-z]+)\",\"restarts\":([0-9]+)");
  Proc p;
  if (std::regex_search(json, m, re)) {
    p.pid = std::stoi(m[1]);
    p.state = m[2];
    p.restarts = std::stoull(m[3]);
  }
  return p;
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs argv (optionally as `uid` after setgroups/setgid) and captures stdout/stderr.
inline RunResult run(std::vector<std::string> argv, int uid = -1) {
  char out_t[] = "/tmp/rw-ops-outXXXXXX", err_t[] = "/tmp/rw-ops-errXXXXXX";
  int of = mkstemp(out_t), ef = mkstemp(err_t);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(of, 1);
    dup2(ef, 2);
    if (uid >= 0) {
      if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(99);
    }
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(98);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  RunResult r;
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  auto slurp = [](const char* p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_t);
  r.err = slurp(err_t);
  close(of);
  close(ef);
  unlink(out_t);
  unlink(err_t);
  return r;
}

class Supervised {
 public:
  // `overrides`: libexec entries to point elsewhere (name -> path), e.g. a crashing shipper.
  explicit Supervised(const std::string& extra, std::map<std::string, std::string> overrides = {}) {
    char tmpl[] = "/tmp/ringward-ops-XXXXXX";
    dir_ = mkdtemp(tmpl);
    chmod(dir_.c_str(), 0755);  // unprivileged children and ringwardctl must traverse it
    std::filesystem::create_directories(dir_ + "/libexec");
    std::filesystem::create_directories(dir_ + "/out");
    chmod((dir_ + "/out").c_str(), 0777);
    for (const char* c : {"capture", "processor", "shipper"}) {
      std::string target = overrides.count(c) ? overrides[c] : std::string(RW_BUILD_ROOT) + "/" + c + "/ringward-" + c;
      std::filesystem::create_symlink(target, dir_ + "/libexec/ringward-" + c);
    }
    socket_ = dir_ + "/ctl.sock";
    config_ = dir_ + "/ringward.toml";
    base_ = "[supervisor]\ncontrol_socket = \"" + socket_ + "\"\nrun_dir = \"" + dir_ + "/run\"\n" +
            "event_buffer_size = 1048576\n" + extra + "\n[capture]\nsource = \"synthetic\"\nsynthetic_rate = 500\n" +
            "[shipper]\nbuffer_dir = \"" + dir_ + "/buffer\"\ndlq_dir = \"" + dir_ + "/dlq\"\n" +
            "metrics_listen = \"127.0.0.1:0\"\n[[shipper.sinks]]\ntype = \"file\"\npath = \"" + dir_ +
            "/out/events.ndjson\"\n";
    write_config(base_);
  }
  ~Supervised() {
    stop();
    std::error_code ec;
    if (!getenv("RINGWARD_KEEP_TEST_DIR")) std::filesystem::remove_all(dir_, ec);
  }
  void write_config(const std::string& text) {
    std::ofstream(config_ + ".tmp") << text;
    std::filesystem::rename(config_ + ".tmp", config_);
    chmod(config_.c_str(), 0644);
  }
  const std::string& base_config() const { return base_; }

  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open((dir_ + "/supervisor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(RW_SUPERVISOR_EXE, RW_SUPERVISOR_EXE, "--config", config_.c_str(), "--libexec-dir",
            (dir_ + "/libexec").c_str(), nullptr);
      _exit(127);
    }
  }
  RunResult ctl(std::vector<std::string> args, int uid = -1) const {
    std::vector<std::string> argv = {RW_CTL_EXE, "-s", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, uid);
  }
  std::string status() const { return ctl({"status", "--json"}).out; }
  bool wait_state(const std::string& name, const std::string& state,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return wait_until([&] { return proc(status(), name).state == state; }, timeout);
  }
  bool wait_running(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return wait_until([&] {
      std::string s = status();
      return proc(s, "capture").state == "running" && proc(s, "processor").state == "running" &&
             proc(s, "shipper").state == "running";
    }, timeout);
  }
  int stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 600; ++i) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return st;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/supervisor.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  int pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_; }

 private:
  std::string dir_, socket_, config_, base_;
  pid_t pid_ = -1;
};

}  // namespace ringward::ops_test
