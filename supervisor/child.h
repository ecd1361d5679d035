// One supervised child process: how to start it, its state, and its restart policy (minimum
// delay, exponential backoff from restart_backoff_initial_ms doubling to restart_backoff_max_ms,
// reset after a stable period, permanent failure after max_restarts deaths in restart_window_s).
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
  bool new_netns = false;
};

class Child {
 public:
  Child(ChildSpec spec, const SupervisorConfig& cfg);

  // Forks and execs; the child writes READY on the pipe whose read end is ready_fd().
  bool start(uint64_t now_ns);
  // Called when waitpid reported the child; returns a description of the cause.
  std::string on_exit(int wait_status, uint64_t now_ns);
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
};

}  // namespace ringward::supervisor
