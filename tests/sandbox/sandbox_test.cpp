// Sandbox tests, the Chromium way: every body runs in a forked child under the real policy, and
// the parent asserts how the child ended (exit 0 for allowed work, SIGSYS for forbidden calls).
// Needs root for the user-switch and capability tests (CI runs as root); they skip otherwise.
#include <fcntl.h>
#include <linux/futex.h>
#include <malloc.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/sandbox/sandbox.h"
#include "processor/stages/resource_monitor.h"
#include "processor/stages/seccomp_policy.h"

namespace {

using ringward::processor::processor_seccomp_policy;
namespace sb = ringward::sandbox;

// Runs `body` in a child; its return value is the exit code. Returns the raw wait status.
// The child never returns into gtest: it leaves with _exit.
int run_in_child(const std::function<int()>& body) {
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return -1;
  }
  if (pid == 0) _exit(body());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// no_new_privs + the processor's real seccomp policy, as the processor applies them.
int enter_processor_filter() {
  if (auto s = sb::set_no_new_privs(); !s) return 10;
  const sb::SyscallPolicy policy = processor_seccomp_policy();
  if (auto s = sb::install_seccomp(policy); !s) {
    std::fprintf(stderr, "install_seccomp: %s\n", s.describe().c_str());
    return 11;
  }
  return 0;
}

bool killed_by_sigsys(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

TEST(Sandbox, ProcessorPolicyAllowsTheWorkItDoes) {
  // A futex word shared with the parent and a pipe the child reports through.
  auto* word = static_cast<std::atomic<uint32_t>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(word, MAP_FAILED);
  word->store(0);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);

  const int status = run_in_child([&]() -> int {
    ringward::SystemClock clock;
    std::optional<ringward::processor::ResourceMonitor::OpenError> open_error;
    auto monitor = ringward::processor::ResourceMonitor::open({}, clock, open_error);
    if (open_error) return 20;
    spdlog::info("sandbox test child: logging once before the filter");
    if (int rc = enter_processor_filter(); rc != 0) return rc;

    // malloc: small, large (mmap) and realloc (mremap), then give memory back.
    std::vector<char> big(64 << 20);
    std::memset(big.data(), 1, big.size());
    void* p = std::malloc(1 << 20);
    p = std::realloc(p, 32 << 20);
    if (p == nullptr) return 21;
    std::memset(p, 2, 32 << 20);
    std::free(p);
    big.clear();
    big.shrink_to_fit();
    malloc_trim(0);

    // futex wake on the shared word.
    word->store(1);
    if (syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0) < 0) return 22;

    // clock_nanosleep and clock_gettime.
    timespec ts{0, 1'000'000};
    if (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr) != 0) return 23;
    if (clock.mono_ns() == 0) return 24;

    // A std::thread that allocates, and join.
    std::atomic<int> from_thread{0};
    std::thread worker([&] {
      std::vector<int> v(100000, 7);
      from_thread = v[99999];
    });
    worker.join();
    if (from_thread != 7) return 25;

    // RSS through the fd opened before the filter.
    auto sample = monitor.sample();
    if (!sample.ok || sample.rss_bytes == 0 || sample.threads < 1) return 26;

    spdlog::info("sandbox test child: logging under the filter");
    const char msg[] = "ok";
    if (write(pipe_fds[1], msg, 2) != 2) return 27;
    return 0;
  });
  close(pipe_fds[1]);
  char buf[8] = {};
  const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
  close(pipe_fds[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
  EXPECT_EQ(n, 2);
  EXPECT_STREQ(buf, "ok");
  EXPECT_EQ(word->load(), 1u);
  munmap(word, 4096);
}

TEST(Sandbox, SocketIsKilledWithSigsys) {
  const int status = run_in_child([] {
    if (int rc = enter_processor_filter(); rc != 0) return rc;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    return fd >= 0 ? 0 : 1;  // reaching here at all is the failure
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
}

TEST(Sandbox, OpenOfANewFileIsKilledWithSigsys) {
  char dir_template[] = "/tmp/ringward-sandbox-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/created";
  const int status = run_in_child([&] {
    if (int rc = enter_processor_filter(); rc != 0) return rc;
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    return fd >= 0 ? 0 : 1;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the file must not exist";
  unlink(path.c_str());
  rmdir(dir_template);
}

TEST(Sandbox, OpenatOfAnExistingFileIsKilledWithSigsys) {
  const int status = run_in_child([] {
    if (int rc = enter_processor_filter(); rc != 0) return rc;
    const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY));
    return fd >= 0 ? 0 : 1;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
}

TEST(Sandbox, ExecveIsKilledWithSigsys) {
  const int status = run_in_child([] {
    if (int rc = enter_processor_filter(); rc != 0) return rc;
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    execve("/bin/true", argv, environ);
    return 1;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
}

TEST(Sandbox, ForkIsKilledWithSigsys) {
  const int status = run_in_child([] {
    if (int rc = enter_processor_filter(); rc != 0) return rc;
    // glibc fork() is clone() without CLONE_THREAD: refused by the argument filter.
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    return 1;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
}

TEST(Sandbox, ExecutableMemoryIsKilledWithSigsys) {
  const int status = run_in_child([] {
    if (int rc = enter_processor_filter(); rc != 0) return rc;
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? 1 : 2;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
}

TEST(Sandbox, UnknownSyscallNameIsAnErrorValue) {
  sb::SyscallPolicy policy;
  policy.name = "broken";
  policy.rules.push_back({"no_such_syscall_xyz", sb::SyscallAction::kAllow, "test"});
  // Never loaded: building fails before seccomp_load, so this process stays unfiltered.
  const sb::SandboxStatus s = sb::install_seccomp(policy);
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.errnum(), EINVAL);
  EXPECT_NE(s.describe().find("no_such_syscall_xyz"), std::string::npos) << s.describe();
}

TEST(Sandbox, ApplySandboxRefusesWithoutPolicy) {
  const sb::SandboxStatus s = sb::apply_sandbox(sb::SandboxPlan{});
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.errnum(), EINVAL);
}

// Reads "Name:\tvalue" from /proc/self/status text.
std::string status_field(const std::string& text, const std::string& name) {
  const auto pos = text.find("\n" + name + ":");
  if (pos == std::string::npos) return "";
  const auto start = text.find_first_not_of(" \t", pos + name.size() + 2);
  return text.substr(start, text.find('\n', start) - start);
}

std::string read_self_status() {
  std::ifstream in("/proc/self/status");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Sandbox, DropCapabilitiesEmptiesEverySet) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const int status = run_in_child([] {
    if (auto s = sb::drop_capabilities(); !s) {
      std::fprintf(stderr, "%s\n", s.describe().c_str());
      return 10;
    }
    const std::string text = read_self_status();
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
      if (status_field(text, set) != "0000000000000000") {
        std::fprintf(stderr, "%s = %s\n", set, status_field(text, set).c_str());
        return 11;
      }
    }
    // And it bites: without CAP_SETUID root cannot become someone else.
    if (setresuid(65534, 65534, 65534) == 0) return 12;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

TEST(Sandbox, SwitchUserToNobody) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const auto nobody = sb::resolve_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  const int status = run_in_child([&] {
    if (auto s = sb::switch_user(nobody->uid, nobody->gid); !s) {
      std::fprintf(stderr, "%s\n", s.describe().c_str());
      return 10;
    }
    if (getuid() != nobody->uid || geteuid() != nobody->uid || getgid() != nobody->gid) return 11;
    gid_t groups[4];
    if (getgroups(4, groups) != 0) return 12;
    if (setuid(0) == 0) return 13;
    const std::string text = read_self_status();
    if (status_field(text, "CapEff") != "0000000000000000") return 14;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

TEST(Sandbox, RlimitsForbidNewFilesAndKeepOpenOnes) {
  const int status = run_in_child([] {
    int keep[2];
    if (pipe(keep) != 0) return 10;
    sb::RlimitPolicy policy;  // nofile: the lowest free fd, so nothing new fits
    if (auto s = sb::set_rlimits(policy); !s) {
      std::fprintf(stderr, "%s\n", s.describe().c_str());
      return 11;
    }
    if (open("/dev/null", O_RDONLY) >= 0) return 12;
    if (errno != EMFILE) return 13;
    if (write(keep[1], "x", 1) != 1) return 14;  // fds held before still work
    rlimit core{};
    getrlimit(RLIMIT_CORE, &core);
    if (core.rlim_max != 0) return 15;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

TEST(Sandbox, RlimitNprocStopsForkForAnUnprivilegedUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const auto nobody = sb::resolve_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  const int status = run_in_child([&] {
    sb::RlimitPolicy limits;
    limits.nofile = 64;
    if (auto s = sb::set_rlimits(limits); !s) return 10;
    if (auto s = sb::switch_user(nobody->uid, nobody->gid); !s) return 11;
    const pid_t pid = fork();  // no seccomp here: only RLIMIT_NPROC 0 stands in the way
    if (pid == 0) _exit(0);
    if (pid > 0) {
      waitpid(pid, nullptr, 0);
      return 12;
    }
    return errno == EAGAIN ? 0 : 13;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

TEST(Sandbox, EmptyNetnsHasNoRouteOut) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const int status = run_in_child([] {
    if (auto s = sb::enter_empty_netns(); !s) {
      std::fprintf(stderr, "%s\n", s.describe().c_str());
      return 10;
    }
    // Loopback is down in a fresh namespace: even 127.0.0.1 is unreachable.
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 11;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(9);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    const int err = errno;
    close(fd);
    return (rc != 0 && err == ENETUNREACH) ? 0 : 12;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

// The whole plan in order, as the processor's main applies it, then allowed work and a forbidden
// call. Uses the full policy with rlimits on, so threads are not started (RLIMIT_NPROC 0).
TEST(Sandbox, FullPlanAsNobodyThenSocketDies) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const auto nobody = sb::resolve_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const int status = run_in_child([&] {
    const int status_fd = open("/proc/self/status", O_RDONLY);
    if (status_fd < 0) return 9;
    spdlog::info("full plan child: before the sandbox");
    const sb::SyscallPolicy policy = processor_seccomp_policy();
    sb::SandboxPlan plan;
    plan.enter_empty_netns = true;
    plan.user = *nobody;
    plan.seccomp = &policy;
    if (auto s = sb::apply_sandbox(plan); !s) {
      std::fprintf(stderr, "%s\n", s.describe().c_str());
      return 10;
    }
    char buf[4096];
    const ssize_t n = pread(status_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return 11;
    buf[n] = '\0';
    const std::string text(buf);
    const std::string uid = status_field(text, "Uid");
    const std::string want = std::to_string(nobody->uid);
    if (uid.rfind(want + "\t" + want, 0) != 0) return 12;
    if (status_field(text, "CapBnd") != "0000000000000000") return 13;
    if (status_field(text, "NoNewPrivs") != "1") return 14;
    if (status_field(text, "Seccomp") != "2") return 15;
    std::vector<char> mem(8 << 20, 1);
    if (write(pipe_fds[1], "ok", 2) != 2) return 16;
    socket(AF_UNIX, SOCK_STREAM, 0);  // must die here
    return 17;
  });
  close(pipe_fds[1]);
  char buf[8] = {};
  EXPECT_EQ(read(pipe_fds[0], buf, sizeof(buf)), 2);
  close(pipe_fds[0]);
  EXPECT_TRUE(killed_by_sigsys(status)) << describe_status(status);
}

}  // namespace
