// The real eBPF source end to end: events of a process this test runs reach the NDJSON sink,
// and capture runs with no capabilities and no_new_privs while they do; the processor's
// detections that need the real kernel (credentials changed where no hook looks).
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "harness.h"

namespace ringward::testing {
namespace {

std::string proc_status_field(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string l;
  while (std::getline(in, l))
    if (l.rfind(field + ":", 0) == 0) {
      auto v = l.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

TEST(EbpfPipeline, ExecReachesTheSinkWhileCaptureHoldsNoPrivilege) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load eBPF programs";
  Pipeline p("[capture]\nsource = \"ebpf\"\n");
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  int cap = process_info(p.status(), "capture").pid;
  ASSERT_GT(cap, 0);
  EXPECT_EQ(proc_status_field(cap, "CapEff"), "0000000000000000");
  EXPECT_EQ(proc_status_field(cap, "CapPrm"), "0000000000000000");
  EXPECT_EQ(proc_status_field(cap, "NoNewPrivs"), "1");
  EXPECT_EQ(proc_status_field(cap, "Seccomp"), "2");

  std::string exe = p.dir() + "/rw-e2e-marker";
  std::filesystem::copy_file("/bin/true", exe);
  chmod(exe.c_str(), 0755);
  std::string arg = "--unique-arg-" + std::to_string(getpid());
  ASSERT_EQ(0, system((exe + " " + arg).c_str()));
  bool found = wait_until([&] {
    for (const auto& l : p.sink_lines())
      if (l.find("\"type\":\"process_exec\"") != std::string::npos && l.find(arg) != std::string::npos)
        return true;
    return false;
  }, std::chrono::seconds(20));
  EXPECT_TRUE(found) << "exec of " << exe << " not in the sink; " << p.status() << p.log();
  std::string s = p.status();
  EXPECT_NE(s.find("\"active_hooks\":["), std::string::npos);
  EXPECT_EQ(process_info(s, "capture").state, "running") << p.log();
}

// A failed accept on a TCP socket (here EINVAL: not listening) has no peer. It is a genuine
// kernel event: it must reach the sink, not be dropped by the processor as malformed.
TEST(EbpfPipeline, FailedAcceptReachesTheSinkAsAnEvent) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load eBPF programs";
  Pipeline p("[capture]\nsource = \"ebpf\"\n");
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  ASSERT_LT(accept(s, nullptr, nullptr), 0);
  ASSERT_EQ(errno, EINVAL);
  close(s);
  const std::string pid = "\"pid\":" + std::to_string(getpid()) + ",";
  bool found = wait_until([&] {
    for (const auto& l : p.sink_lines())
      if (l.find("\"type\":\"net_accept\"") != std::string::npos && l.find(pid) != std::string::npos &&
          l.find("\"result\":-22") != std::string::npos)
        return true;
    return false;
  }, std::chrono::seconds(20));
  // (Dropped as invalid, it would never arrive: the positive check is the whole test; a count of
  // invalid drops would also see other processes of this shared machine.)
  EXPECT_TRUE(found) << "failed accept not in the sink; " << p.status() << p.log();
}

// A thread that becomes root where no hook looks (setuid32 through the 32-bit entry, as a
// kernel exploit would by writing its credentials) is flagged at its next event: RW-PRIV-003 on
// the file open after it, not on the one before (the reported setresuid explains that uid).
// The thread runs as nobody (real and effective) holding CAP_SETUID, the one way to make the
// 32-bit call succeed without a real exploit.
TEST(EbpfPipeline, RootGainedWhereNoHookLooksIsFlaggedAtTheThreadsNextEvent) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load eBPF programs";
  Pipeline p("[capture]\nsource = \"ebpf\"\n");
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  const std::string tag = std::to_string(getpid());
  const std::string before = p.dir() + "/rw-uid-before-" + tag;
  const std::string after = p.dir() + "/rw-uid-after-" + tag;
  pid_t child = fork();
  if (child == 0) {
    // Nobody, keeping CAP_SETUID (reported: setresuid, capset).
    if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(97);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2] = {};
    caps[0].permitted = caps[0].effective = 1u << CAP_SETUID;
    if (syscall(SYS_capset, &hdr, caps) != 0) _exit(93);
    // The attempt is the event (nobody may not reach the directory).
    int fd = open(before.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    // Without ia32 emulation int 0x80 faults: let the fault kill this child (the parent then
    // skips). A sanitizer's own SIGSEGV handler would turn it into an exit code instead, so the
    // default action is restored with the raw syscall, which sanitizers do not intercept.
    struct {
      void* handler;
      unsigned long flags;
      void* restorer;
      unsigned long mask;
    } dfl = {reinterpret_cast<void*>(SIG_DFL), 0, nullptr, 0};
    if (syscall(SYS_rt_sigaction, SIGSEGV, &dfl, nullptr, sizeof dfl.mask) != 0) _exit(92);
    long ret;
    asm volatile("int $0x80" : "=a"(ret) : "a"(213L /* ia32 setuid32 */), "b"(0L) : "memory");
    if (ret != 0 || getuid() != 0) _exit(95);
    fd = open(after.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  if (WIFSIGNALED(status)) GTEST_SKIP() << "no 32-bit syscall entry (ia32 emulation off)";
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto line_with = [&](const std::string& path) {
    for (const auto& l : p.sink_lines())
      if (l.find("\"type\":\"file_open\"") != std::string::npos && l.find(path) != std::string::npos)
        return l;
    return std::string();
  };
  std::string before_line, after_line;
  wait_until([&] {
    before_line = line_with(before);
    after_line = line_with(after);
    return !before_line.empty() && !after_line.empty();
  }, std::chrono::seconds(20));
  ASSERT_FALSE(after_line.empty()) << "open after the change not in the sink; " << p.status() << p.log();
  EXPECT_NE(after_line.find("RW-PRIV-003"), std::string::npos) << after_line;
  EXPECT_NE(after_line.find("\"uid\":0,"), std::string::npos) << after_line;
  EXPECT_NE(after_line.find("\"thread_start_ns\":"), std::string::npos) << after_line;
  EXPECT_NE(after_line.find("\"euid\":0,"), std::string::npos) << after_line;
  ASSERT_FALSE(before_line.empty()) << "open before the change not in the sink; " << p.status();
  EXPECT_EQ(before_line.find("RW-PRIV-003"), std::string::npos) << before_line;
  EXPECT_NE(before_line.find("\"uid\":65534,"), std::string::npos) << before_line;
  EXPECT_NE(before_line.find("\"euid\":65534,"), std::string::npos) << before_line;
}

// A set-gid binary of group root run by nobody gains group root (egid 0) without effective
// root: its exec privilege record reaches the sink flagged RW-PRIV-004 (not as a uid gain).
TEST(EbpfPipeline, GroupRootGainedThroughASetgidExecIsFlagged) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load eBPF programs";
  Pipeline p("[capture]\nsource = \"ebpf\"\n");
  p.start();
  ASSERT_TRUE(p.wait_running()) << p.log();
  const std::string bin = p.dir() + "/rw-sgid-root-" + std::to_string(getpid());
  std::filesystem::copy_file("/bin/true", bin);
  ASSERT_EQ(chown(bin.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(bin.c_str(), 02755), 0);
  ASSERT_EQ(chmod(p.dir().c_str(), 0755), 0);  // nobody must reach the binary
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(97);
    execl(bin.c_str(), bin.c_str(), static_cast<char*>(nullptr));
    _exit(98);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string pid = "\"pid\":" + std::to_string(child) + ",";
  std::string line;
  wait_until([&] {
    for (const auto& l : p.sink_lines())
      if (l.find("\"type\":\"privilege_change\"") != std::string::npos && l.find(pid) != std::string::npos &&
          l.find(bin) != std::string::npos)
        line = l;
    return !line.empty();
  }, std::chrono::seconds(20));
  ASSERT_FALSE(line.empty()) << "the set-gid exec is not in the sink; " << p.status() << p.log();
  EXPECT_NE(line.find("RW-PRIV-004"), std::string::npos) << line;
  EXPECT_EQ(line.find("RW-PRIV-001"), std::string::npos) << line;
  EXPECT_NE(line.find("\"new_egid\":0"), std::string::npos) << line;
  EXPECT_NE(line.find("\"priority\":\"critical\""), std::string::npos) << line;
}

}  // namespace
}  // namespace ringward::testing
