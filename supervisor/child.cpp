// Child process start-up and restart policy (see child.h). Trust: supervisor (root); the code
// between fork and exec runs in the child and only makes async-signal-safe calls.
#include "supervisor/child.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ringward::supervisor {

const char* state_name(ChildState s) {
  switch (s) {
    case ChildState::stopped: return "stopped";
    case ChildState::starting: return "starting";
    case ChildState::running: return "running";
    case ChildState::backoff: return "backoff";
    case ChildState::failed: return "failed";
    case ChildState::stopping: return "stopping";
  }
  return "unknown";
}

Child::Child(ChildSpec spec, const SupervisorConfig& cfg) : spec_(std::move(spec)), cfg_(cfg) {}

bool Child::start(uint64_t now_ns) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    spdlog::error("{}: pipe for readiness: {}", spec_.name, strerror(errno));
    return false;
  }
  std::vector<std::string> argv_s = {spec_.executable};
  argv_s.insert(argv_s.end(), spec_.args.begin(), spec_.args.end());
  argv_s.push_back("--ready-fd");
  argv_s.push_back("3");
  // Resolve the identity before fork: getpwnam is not async-signal-safe.
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = !spec_.user.empty();
  if (switch_user) {
    passwd* pw = getpwnam(spec_.user.c_str());
    if (!pw) {
      spdlog::error("{}: user '{}' does not exist (create it, or clear the config key)", spec_.name,
                    spec_.user);
      close(fds[0]);
      close(fds[1]);
      return false;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The service manager's notification socket and watchdog are the supervisor's alone.
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("NOTIFY_SOCKET=", 0) == 0 || v.rfind("WATCHDOG_", 0) == 0) continue;
    envp.push_back(*e);
  }
  envp.push_back(nullptr);
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    spdlog::error("{}: fork: {}", spec_.name, strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    // Child: own process group, readiness pipe on fd 3, default signal state, then identity.
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (dup2(fds[1], 3) < 0) _exit(126);
    if (spec_.new_netns && unshare(CLONE_NEWNET) != 0) _exit(125);
    if (switch_user) {
      // Empty the bounding set while CAP_SETPCAP is still held: the unprivileged child could not
      // do it itself, and no later exec of a setuid/file-capability binary can bring caps back.
      for (int cap = 0; cap < 64; ++cap) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) _exit(123);
      }
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        _exit(124);
    }
    // After the identity switch: a credential change clears the parent-death signal.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);  // the supervisor died before prctl took effect
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  if (started_ns_ != 0) ++restarts_;
  pid_ = pid;
  ready_fd_ = fds[0];
  state_ = ChildState::starting;
  started_ns_ = now_ns;
  ready_ns_ = 0;
  spdlog::info("{}: started pid {}", spec_.name, pid);
  return true;
}

void Child::close_ready_fd() {
  if (ready_fd_ >= 0) close(ready_fd_);
  ready_fd_ = -1;
}

void Child::on_ready(uint64_t now_ns) {
  if (state_ == ChildState::starting) {
    state_ = ChildState::running;
    ready_ns_ = now_ns;
    spdlog::info("{}: ready after {} ms", spec_.name, (now_ns - started_ns_) / 1'000'000);
  }
  close_ready_fd();
}

std::string Child::describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    std::string s = fmt::format("killed by signal {} (SIG{})", sig, abbrev ? abbrev : "?");
    if (WCOREDUMP(status)) s += ", core dumped";
    return s;
  }
  return fmt::format("wait status 0x{:x}", status);
}

std::string Child::on_exit(int status, uint64_t now_ns, const std::string& detail) {
  close_ready_fd();
  std::string cause = describe_exit(status);
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 127) cause += " (could not execute " + spec_.executable + ")";
    if (WEXITSTATUS(status) == 126) cause += " (could not set up the readiness fd)";
    if (WEXITSTATUS(status) == 125) cause += " (could not create its network namespace)";
    if (WEXITSTATUS(status) == 124) cause += " (could not switch to user " + spec_.user + ")";
    if (WEXITSTATUS(status) == 123) cause += " (could not empty its capability bounding set)";
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) cause += ": seccomp violation";
  if (!detail.empty()) cause += ": " + detail;
  last_exit_ = cause;
  pid_ = -1;
  if (stopping_) {
    state_ = ChildState::stopped;
    return cause;
  }
  if (restart_requested_) {
    restart_requested_ = false;
    state_ = ChildState::backoff;
    next_start_ns_ = now_ns;
    spdlog::info("{}: {}; restarting now as requested", spec_.name, cause);
    return cause;
  }
  // A child that ran stably gets a fresh backoff; one that dies young backs off harder.
  bool was_stable = ready_ns_ != 0 && now_ns - ready_ns_ >= uint64_t(cfg_.stable_after_s) * 1'000'000'000ULL;
  uint64_t initial = uint64_t(cfg_.restart_backoff_initial_ms) * 1'000'000ULL;
  uint64_t max = uint64_t(cfg_.restart_backoff_max_ms) * 1'000'000ULL;
  if (was_stable || backoff_ns_ == 0) backoff_ns_ = initial;
  else backoff_ns_ = std::min(backoff_ns_ * 2, max);
  if (ready_ns_ == 0) backoff_ns_ = std::min(std::max(backoff_ns_, initial * 4), max);  // never ready
  deaths_.push_back(now_ns);
  uint64_t window = uint64_t(cfg_.restart_window_s) * 1'000'000'000ULL;
  while (!deaths_.empty() && now_ns - deaths_.front() > window) deaths_.pop_front();
  if (deaths_.size() > static_cast<size_t>(cfg_.max_restarts)) {
    state_ = ChildState::failed;
    spdlog::error("{}: {}; {} deaths within {} s: marked permanently failed, not restarting "
                  "(ringwardctl restart {} to retry)", spec_.name, cause, deaths_.size(),
                  cfg_.restart_window_s, spec_.name);
    return cause;
  }
  state_ = ChildState::backoff;
  next_start_ns_ = now_ns + backoff_ns_;
  spdlog::warn("{}: {}; restarting in {} ms", spec_.name, cause, backoff_ns_ / 1'000'000);
  return cause;
}

bool Child::restart_due(uint64_t now_ns) const {
  return state_ == ChildState::backoff && now_ns >= next_start_ns_;
}

void Child::request_stop(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

void Child::request_restart() {
  reset_failure();
  if (pid_ > 0) {
    restart_requested_ = true;
    kill(pid_, SIGTERM);
  }
}

void Child::reset_failure() {
  deaths_.clear();
  backoff_ns_ = 0;
  if (state_ == ChildState::failed || state_ == ChildState::backoff) {
    state_ = ChildState::backoff;
    next_start_ns_ = 0;
  }
}

}  // namespace ringward::supervisor
