// One supervised child process: how to start it (own process group, own identity, optionally its
// own empty network namespace, readiness pipe on fd 3), its state, and its restart policy:
//  - every restart waits at least restart_backoff_initial_ms;
//  - each death within the backoff sequence doubles the delay, up to restart_backoff_max_ms;
//  - a child that never reported ready waits at least 4x the initial delay (a crash loop at
//    start-up must not spin);
//  - a child that ran stable_after_s since it became ready starts over at the initial delay;
//  - more than max_restarts deaths within restart_window_s: permanently failed, not restarted
//    until `ringwardctl restart <name>`; the other children keep running.
// Restarts the operator asked for (restart, reload) are not deaths and start at once.
// Trust: supervisor (root).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/config.h"

namespace ringward::supervisor {

enum class ChildState { stopped, starting, running, backoff, failed, stopping };
const char* state_name(ChildState s);

struct ChildSpec {
  std::string name;  // capture | processor | shipper
  std::string executable;
  std::vector<std::string> args;
  std::string user;  // empty: keep root
  bool new_netns = false;  // unshare(CLONE_NEWNET) before exec: only a down loopback
};

class Child {
 public:
  Child(ChildSpec spec, const SupervisorConfig& cfg);

  // Forks and execs; the child writes READY on the pipe whose read end is ready_fd().
  bool start(uint64_t now_ns);
  // Called when waitpid reported the child; returns a description of the cause. `detail` is
  // appended to it (e.g. the syscall seccomp killed it for).
  std::string on_exit(int wait_status, uint64_t now_ns, const std::string& detail = "");
  // Describes a wait status: "exited with status 1", "killed by signal 31 (Bad system call)".
  static std::string describe_exit(int wait_status);
  // Operator-requested restart: SIGTERM now, start again at once, not counted as a death.
  void request_restart();
  // Time of the next start while in backoff.
  uint64_t next_start_ns() const { return next_start_ns_; }
  uint64_t current_backoff_ns() const { return backoff_ns_; }
  void on_ready(uint64_t now_ns);
  // Due for a restart at `now`?
  bool restart_due(uint64_t now_ns) const;
  void request_stop(int sig);
  void reset_failure();

  const ChildSpec& spec() const { return spec_; }
  pid_t pid() const { return pid_; }
  int ready_fd() const { return ready_fd_; }
  void close_ready_fd();
  ChildState state() const { return state_; }
  uint64_t restarts() const { return restarts_; }
  uint64_t started_ns() const { return started_ns_; }
  const std::string& last_exit() const { return last_exit_; }
  bool stopping() const { return stopping_; }
  void set_stopping(bool s) { stopping_ = s; }

 private:
  ChildSpec spec_;
  const SupervisorConfig& cfg_;
  pid_t pid_ = -1;
  int ready_fd_ = -1;
  ChildState state_ = ChildState::stopped;
  uint64_t restarts_ = 0;
  uint64_t started_ns_ = 0;
  uint64_t ready_ns_ = 0;
  uint64_t next_start_ns_ = 0;
  uint64_t backoff_ns_ = 0;
  std::deque<uint64_t> deaths_;
  std::string last_exit_;
  bool stopping_ = false;
  bool restart_requested_ = false;
};

}  // namespace ringward::supervisor
