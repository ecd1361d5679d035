// Integration tests of the eBPF source against the real kernel (root): every test triggers the
// real syscall or process and checks the captured fields, falco-style. Trust: test.
#include "capture/ebpf/ebpf_source.h"
#include "capture/sandbox_policy.h"
#include "events.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <capnp/message.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rc = ringward::capture;
namespace fs = std::filesystem;
using ringward::schema::Event;
using ringward::schema::Priority;

namespace {

struct Captured {
  std::unique_ptr<capnp::MallocMessageBuilder> msg;
  Priority priority;
  Event::Reader event() { return msg->getRoot<Event>().asReader(); }
};

struct Lost {
  std::string stage, reason, kind;
  int cpu;
  uint64_t count;
  size_t events_before;  // events emitted before this report (their order in one stream)
};

// Stores every event as the real emitter would build it.
class RecordingEmitter : public rc::Emitter {
 public:
  bool emit(Priority priority, kj::FunctionParam<void(Event::Builder)> fill) override {
    auto msg = std::make_unique<capnp::MallocMessageBuilder>();
    auto ev = msg->initRoot<Event>();
    fill(ev);
    ev.setPriority(priority);
    events.push_back({std::move(msg), priority});
    return true;
  }
  void report_lost(std::string_view stage, std::string_view reason, std::string_view kind, int cpu,
                   uint64_t count) override {
    lost.push_back({std::string(stage), std::string(reason), std::string(kind), cpu, count, events.size()});
  }
  std::vector<Captured> events;
  std::vector<Lost> lost;
};

std::string text(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

std::string own_comm() {
  char c[17] = {};
  prctl(PR_GET_NAME, c);
  return c;
}

uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000ULL + ts.tv_nsec;
}

// cgroup v2 id of this process: the inode number of its cgroup directory.
uint64_t own_cgroup_id() {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("0::", 0) == 0) {
      for (const char* root : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
        struct stat st {};
        if (stat((std::string(root) + line.substr(3)).c_str(), &st) == 0 &&
            std::string(root) != "/sys/fs/cgroup")
          return st.st_ino;
      }
    }
  }
  return 0;
}

class EbpfTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    rc::EbpfOptions o;
    o.exclude_comms = {"rwflood"};
    o.exclude_children_of = static_cast<uint32_t>(getpid());  // this process plays the supervisor
    o.http_request_timeout = std::chrono::milliseconds(1500);
    auto r = rc::EbpfSource::create(o, clock_);
    if (!r) {
      error_ = new std::string(r.error);
      return;
    }
    source_ = r.source.release();
  }
  static void TearDownTestSuite() {
    delete source_;
    source_ = nullptr;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_NE(source_, nullptr) << (error_ ? *error_ : "no source");
    dir_ = fs::temp_directory_path() / ("rw-ebpf-" + std::to_string(getpid()) + "-" +
                                        std::to_string(mono_ns() % 1000000));
    fs::create_directories(dir_);
    emitter_.events.clear();
    source_->pump(emitter_, std::chrono::milliseconds(5));  // drain older events
    emitter_.events.clear();
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // Pumps until `match` finds `want` events or 5 s pass; returns the matches.
  std::vector<Event::Reader> wait_for(std::function<bool(Event::Reader)> match, size_t want = 1) {
    uint64_t end = mono_ns() + 5'000'000'000ULL;
    std::vector<Event::Reader> found;
    size_t scanned = 0;
    while (mono_ns() < end) {
      source_->pump(emitter_, std::chrono::milliseconds(20));
      for (; scanned < emitter_.events.size(); scanned++) {
        auto ev = emitter_.events[scanned].event();
        if (match(ev)) found.push_back(ev);
      }
      if (found.size() >= want) break;
    }
    return found;
  }

  Priority priority_of(Event::Reader ev) { return ev.getPriority(); }

  bool prepare_exec_hooked() const {
    auto hooks = source_->active_hooks();
    return std::find(hooks.begin(), hooks.end(), "tp_btf:sched_prepare_exec") != hooks.end();
  }

  // A root-owned copy of /bin/true named `name` in the test directory (made reachable for any
  // user), with `mode` (e.g. 04755 for set-uid).
  fs::path copy_of_true(const std::string& name, mode_t mode) {
    fs::path bin = dir_ / name;
    fs::copy_file("/bin/true", bin);
    EXPECT_EQ(chown(bin.c_str(), 0, 0), 0);
    EXPECT_EQ(chmod(bin.c_str(), mode), 0);
    EXPECT_EQ(chmod(dir_.c_str(), 0755), 0);
    return bin;
  }

  // `child`'s exec privilege record and exec event, each empty when it did not arrive in 5 s.
  std::pair<std::optional<Event::Reader>, std::optional<Event::Reader>> exec_records_of(pid_t child) {
    std::optional<Event::Reader> priv, exec;
    for (auto ev : wait_for(
             [&](Event::Reader ev) {
               return ev.getPid() == static_cast<uint32_t>(child) &&
                      ((ev.getKind().isPrivilegeChange() &&
                        ev.getKind().getPrivilegeChange().getSyscall() == "exec") ||
                       ev.getKind().isProcessExec());
             },
             2))
      (ev.getKind().isProcessExec() ? exec : priv) = ev;
    return {priv, exec};
  }

  // `child`, running as nobody, exec'd the set-uid-root copy `bin`: one Critical exec
  // privilege change from euid 65534 to 0, the real uid kept.
  void expect_setuid_exec(pid_t child, const fs::path& bin) {
    auto evs = wait_for([&](Event::Reader ev) {
      return ev.getKind().isPrivilegeChange() && ev.getPid() == static_cast<uint32_t>(child) &&
             ev.getKind().getPrivilegeChange().getSyscall() == "exec";
    });
    ASSERT_EQ(evs.size(), 1u);
    auto p = evs[0].getKind().getPrivilegeChange();
    EXPECT_EQ(p.getOldEuid(), 65534u);
    EXPECT_EQ(p.getNewEuid(), 0u);
    EXPECT_EQ(p.getNewUid(), 65534u);
    EXPECT_EQ(text(p.getFilename()), bin.string());
    EXPECT_EQ(priority_of(evs[0]), Priority::CRITICAL);
  }

  static inline ringward::SystemClock clock_;
  static inline rc::EbpfSource* source_ = nullptr;
  static inline std::string* error_ = nullptr;
  RecordingEmitter emitter_;
  fs::path dir_;
};

TEST_F(EbpfTest, ReportsActiveHooks) {
  auto hooks = source_->active_hooks();
  auto has = [&](const std::string& h) {
    return std::find(hooks.begin(), hooks.end(), h) != hooks.end();
  };
  EXPECT_TRUE(has("tp_btf:sched_process_exec"));
  EXPECT_TRUE(has("tracepoint:syscalls:sys_exit_openat"));
  EXPECT_TRUE(has("tp_btf:sock_send_length"));  // HTTP: socket data tracepoints
  EXPECT_TRUE(has("tp_btf:sock_recv_length"));
  for (auto& h : hooks) EXPECT_EQ(h.find("raw_tracepoint"), std::string::npos) << h;
  // Where exec has its point of no return as a tracepoint, privilege gains by exec are judged
  // there and nothing hooks execve entry.
  if (has("tp_btf:sched_prepare_exec")) {
    EXPECT_FALSE(has("tracepoint:syscalls:sys_enter_execve"));
    EXPECT_FALSE(has("tracepoint:syscalls:sys_enter_execveat"));
  }
}

TEST_F(EbpfTest, ExecAndExitOfUniqueBinary) {
  std::string name = "rwt" + std::to_string(getpid() % 100000) + "false";
  fs::path bin = dir_ / name;
  fs::copy_file("/bin/false", bin);
  fs::permissions(bin, fs::perms::owner_all);
  const uint64_t before_fork = mono_ns();
  pid_t child = fork();
  if (child == 0) {
    if (chdir(dir_.c_str()) != 0) _exit(99);
    execl(bin.c_str(), bin.c_str(), "alpha", "b c", "--x=1", nullptr);
    _exit(98);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 1);
  auto execs = wait_for([&](Event::Reader ev) {
    return ev.getKind().isProcessExec() && text(ev.getKind().getProcessExec().getFilename()) == bin.string();
  });
  ASSERT_EQ(execs.size(), 1u);
  auto ev = execs[0];
  EXPECT_EQ(ev.getPid(), static_cast<uint32_t>(child));
  EXPECT_EQ(ev.getTid(), static_cast<uint32_t>(child));
  EXPECT_EQ(ev.getPpid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(ev.getUid(), 0u);
  EXPECT_EQ(ev.getGid(), 0u);
  EXPECT_EQ(text(ev.getComm()), name.substr(0, 15));
  EXPECT_EQ(text(ev.getParentComm()), own_comm());
  EXPECT_EQ(ev.getCgroupId(), own_cgroup_id());
  EXPECT_GT(ev.getMonoNs(), 0u);
  EXPECT_LE(ev.getMonoNs(), mono_ns());
  // The thread's start is its fork, on the same clock.
  EXPECT_GE(ev.getThreadStartNs(), before_fork);
  EXPECT_LE(ev.getThreadStartNs(), ev.getMonoNs());
  auto argv = ev.getKind().getProcessExec().getArgv();
  ASSERT_EQ(argv.size(), 4u);
  EXPECT_EQ(text(argv[0]), bin.string());
  EXPECT_EQ(text(argv[1]), "alpha");
  EXPECT_EQ(text(argv[2]), "b c");
  EXPECT_EQ(text(argv[3]), "--x=1");
  EXPECT_FALSE(ev.getKind().getProcessExec().getArgvTruncated());
  EXPECT_EQ(text(ev.getKind().getProcessExec().getCwd()), fs::canonical(dir_).string());
  EXPECT_EQ(priority_of(ev), Priority::NORMAL);

  auto exits = wait_for([&](Event::Reader e) {
    return e.getKind().isProcessExit() && e.getPid() == static_cast<uint32_t>(child);
  });
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].getThreadStartNs(), ev.getThreadStartNs());
  EXPECT_EQ(exits[0].getKind().getProcessExit().getExitCode(), 1 << 8);
  EXPECT_EQ(text(exits[0].getComm()), name.substr(0, 15));
}

TEST_F(EbpfTest, FileOpenOpenatAndOpenat2) {
  fs::path p = dir_ / ("rw-open-" + std::to_string(mono_ns()));
  int fd = open(p.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0640);
  ASSERT_GE(fd, 0);
  close(fd);
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC;
  int fd2 = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, p.c_str(), &how, sizeof(how)));
  ASSERT_GE(fd2, 0);
  close(fd2);
  fs::path missing = dir_ / "rw-missing-file";
  ASSERT_LT(open(missing.c_str(), O_RDONLY), 0);

  auto opens = wait_for([&](Event::Reader ev) {
    return ev.getKind().isFileOpen() && (text(ev.getKind().getFileOpen().getPath()) == p.string() ||
                               text(ev.getKind().getFileOpen().getPath()) == missing.string());
  }, 3);
  ASSERT_EQ(opens.size(), 3u);
  auto a = opens[0].getKind().getFileOpen();
  EXPECT_EQ(a.getSyscall(), "openat");
  EXPECT_EQ(a.getFlags() & (O_CREAT | O_WRONLY | O_CLOEXEC), unsigned(O_CREAT | O_WRONLY | O_CLOEXEC));
  EXPECT_EQ(a.getMode(), 0640u);
  EXPECT_EQ(a.getResult(), fd);
  EXPECT_EQ(opens[0].getPid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(text(opens[0].getComm()), own_comm());
  EXPECT_EQ(priority_of(opens[0]), Priority::LOW);
  auto b = opens[1].getKind().getFileOpen();
  EXPECT_EQ(b.getSyscall(), "openat2");
  EXPECT_EQ(b.getFlags(), unsigned(O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(b.getResult(), fd2);
  auto c = opens[2].getKind().getFileOpen();
  EXPECT_EQ(text(c.getPath()), missing.string());
  EXPECT_EQ(c.getResult(), -ENOENT);
}

// A process ends when its last thread does: a leader that exits alone (pthread_exit) while another
// thread runs on is not an exit; the one exit event carries the code the process ended with.
TEST_F(EbpfTest, ExitIsReportedOnceWhenTheLastThreadEnds) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      exit(7);
    }).detach();
    syscall(SYS_exit, 0);  // this thread only (pthread_exit would unwind through gtest)
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
  fs::path marker = dir_ / ("rw-exit-marker-" + std::to_string(mono_ns()));
  close(open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  std::vector<int32_t> codes;
  auto seen = wait_for([&](Event::Reader ev) {
    if (ev.getKind().isProcessExit() && ev.getPid() == static_cast<uint32_t>(child))
      codes.push_back(ev.getKind().getProcessExit().getExitCode());
    return ev.getKind().isFileOpen() && text(ev.getKind().getFileOpen().getPath()) == marker.string();
  });
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0], 7 << 8);
}

// Threads of one process ending at the same instant (exit_group with every thread running, on
// both CPUs): still exactly one exit per process, named after the process, not the thread that
// happened to end last.
TEST_F(EbpfTest, ConcurrentThreadExitsGiveOneExitNamedAfterTheProcess) {
  std::vector<pid_t> children;
  for (int i = 0; i < 12; ++i) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      prctl(PR_SET_NAME, "rw-exitgrp");
      std::atomic<int> running{0};
      for (int t = 0; t < 6; ++t)
        std::thread([&running] {
          prctl(PR_SET_NAME, "rw-worker");
          running.fetch_add(1);
          std::atomic<uint64_t> spin{0};
          for (;;) spin.fetch_add(1, std::memory_order_relaxed);
        }).detach();
      while (running.load() < 6) std::this_thread::yield();
      exit(3);  // exit_group: every thread ends now
    }
    children.push_back(child);
  }
  for (pid_t c : children) {
    int status = 0;
    ASSERT_EQ(waitpid(c, &status, 0), c);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  }
  fs::path marker = dir_ / ("rw-exitgrp-marker-" + std::to_string(mono_ns()));
  close(open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  std::map<uint32_t, std::vector<std::string>> exits;
  auto seen = wait_for([&](Event::Reader ev) {
    if (ev.getKind().isProcessExit() &&
        std::find(children.begin(), children.end(), static_cast<pid_t>(ev.getPid())) != children.end()) {
      exits[ev.getPid()].push_back(text(ev.getComm()));
      EXPECT_EQ(ev.getKind().getProcessExit().getExitCode(), 3 << 8);
    }
    return ev.getKind().isFileOpen() && text(ev.getKind().getFileOpen().getPath()) == marker.string();
  });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(exits.size(), children.size());
  for (auto& [pid, comms] : exits) {
    EXPECT_EQ(comms.size(), 1u) << "pid " << pid << " reported " << comms.size() << " exits";
    for (auto& c : comms) EXPECT_EQ(c, "rw-exitgrp");
  }
}

// The older open(2) and creat(2), which musl (Alpine) and old binaries still call.
TEST_F(EbpfTest, FileOpenOpenAndCreat) {
  fs::path created = dir_ / ("rw-creat-" + std::to_string(mono_ns()));
  int fd = static_cast<int>(syscall(SYS_creat, created.c_str(), 0604));
  ASSERT_GE(fd, 0);
  close(fd);
  int fd2 = static_cast<int>(syscall(SYS_open, created.c_str(), O_RDONLY | O_CLOEXEC, 0));
  ASSERT_GE(fd2, 0);
  close(fd2);
  auto opens = wait_for([&](Event::Reader ev) {
    return ev.getKind().isFileOpen() && text(ev.getKind().getFileOpen().getPath()) == created.string();
  }, 2);
  ASSERT_EQ(opens.size(), 2u);
  auto c = opens[0].getKind().getFileOpen();
  EXPECT_EQ(c.getSyscall(), "creat");
  EXPECT_EQ(c.getFlags(), unsigned(O_CREAT | O_WRONLY | O_TRUNC));
  EXPECT_EQ(c.getMode(), 0604u);
  EXPECT_EQ(c.getResult(), fd);
  EXPECT_EQ(opens[0].getPid(), static_cast<uint32_t>(getpid()));
  auto o = opens[1].getKind().getFileOpen();
  EXPECT_EQ(o.getSyscall(), "open");
  EXPECT_EQ(o.getFlags(), unsigned(O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(o.getResult(), fd2);
}

// Opens `path` in a child named `comm`; with `grandchild`, in a grandchild (whose parent is not
// this process). Waits until it has exited.
void open_as(const std::string& comm, const fs::path& path, bool grandchild) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (grandchild) {
      pid_t inner = fork();
      if (inner < 0) _exit(2);
      if (inner > 0) _exit(waitpid(inner, nullptr, 0) == inner ? 0 : 3);
    }
    prctl(PR_SET_NAME, comm.c_str());
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    _exit(fd >= 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// The agent's own processes are recognised by parent and name together: a process that only
// names itself like the agent stays visible (otherwise anyone could hide by prctl).
TEST_F(EbpfTest, OnlyTheSupervisorsChildrenNamedLikeTheAgentAreExcluded) {
  const std::string tag = std::to_string(mono_ns());
  fs::path impostor = dir_ / ("rw-impostor-" + tag), own = dir_ / ("rw-own-" + tag),
           other = dir_ / ("rw-other-" + tag);
  uint64_t filtered_before =
      source_->counters().kinds[static_cast<size_t>(rc::EbpfKind::file_open)].filtered;
  open_as("ringward-evil", impostor, true);  // named like the agent, not the supervisor's child
  open_as("ringward-proc", own, false);      // the supervisor's child named like the agent
  open_as("rw-worker", other, false);        // the supervisor's child under another name
  auto opens = wait_for([&](Event::Reader ev) {
    if (!ev.getKind().isFileOpen()) return false;
    auto path = text(ev.getKind().getFileOpen().getPath());
    return path == impostor.string() || path == own.string() || path == other.string();
  }, 2);
  ASSERT_EQ(opens.size(), 2u);
  EXPECT_EQ(text(opens[0].getKind().getFileOpen().getPath()), impostor.string());
  EXPECT_EQ(text(opens[0].getComm()), "ringward-evil");
  EXPECT_EQ(text(opens[1].getKind().getFileOpen().getPath()), other.string());
  EXPECT_EQ(opens[1].getPpid(), static_cast<uint32_t>(getpid()));
  // The own one was dropped in the kernel and counted as filtered (records arrive in order, so
  // it would have come before `other`).
  EXPECT_GT(source_->counters().kinds[static_cast<size_t>(rc::EbpfKind::file_open)].filtered,
            filtered_before);
}

void connect_accept(EbpfTest* t, int family,
                    const std::function<std::vector<Event::Reader>(std::function<bool(Event::Reader)>, size_t)>& wait) {
  int ls = socket(family, SOCK_STREAM, 0);
  ASSERT_GE(ls, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  }
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&ss), len), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  ASSERT_EQ(getsockname(ls, reinterpret_cast<sockaddr*>(&ss), &len), 0);
  uint16_t port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  int cs = socket(family, SOCK_STREAM, 0);
  ASSERT_EQ(connect(cs, reinterpret_cast<sockaddr*>(&ss), len), 0);
  sockaddr_storage cl{};
  socklen_t cl_len = sizeof(cl);
  getsockname(cs, reinterpret_cast<sockaddr*>(&cl), &cl_len);
  uint16_t cport = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&cl)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&cl)->sin6_port);
  int as = accept(ls, nullptr, nullptr);
  ASSERT_GE(as, 0);
  close(as);
  close(cs);
  close(ls);
  (void)t;
  std::string loop = family == AF_INET ? std::string("\x7f\0\0\x01", 4)
                                       : std::string(15, '\0') + std::string("\x01", 1);
  auto evs = wait([&](Event::Reader ev) {
    if (ev.getPid() != static_cast<uint32_t>(getpid())) return false;
    if (ev.getKind().isNetConnect()) return ev.getKind().getNetConnect().getDstPort() == port;
    if (ev.getKind().isNetAccept()) return ev.getKind().getNetAccept().getDstPort() == port;
    return false;
  }, 2);
  ASSERT_EQ(evs.size(), 2u);
  auto c = evs[0].getKind().isNetConnect() ? evs[0].getKind().getNetConnect() : evs[1].getKind().getNetConnect();
  auto a = evs[0].getKind().isNetAccept() ? evs[0].getKind().getNetAccept() : evs[1].getKind().getNetAccept();
  EXPECT_EQ(c.getFamily(), family);
  EXPECT_EQ(text(c.getDstAddr()), loop);
  EXPECT_EQ(text(c.getSrcAddr()), loop);
  EXPECT_EQ(c.getSrcPort(), cport);
  EXPECT_EQ(c.getResult(), 0);
  EXPECT_EQ(a.getFamily(), family);
  EXPECT_EQ(text(a.getSrcAddr()), loop);
  EXPECT_EQ(a.getSrcPort(), cport);
  EXPECT_EQ(a.getResult(), as);
}

TEST_F(EbpfTest, ConnectAcceptIPv4) {
  connect_accept(this, AF_INET, [&](auto m, size_t n) { return wait_for(m, n); });
}

TEST_F(EbpfTest, ConnectAcceptIPv6) {
  connect_accept(this, AF_INET6, [&](auto m, size_t n) { return wait_for(m, n); });
}

TEST_F(EbpfTest, SetuidInChild) {
  pid_t child = fork();
  if (child == 0) _exit(setuid(65534) == 0 ? 0 : 1);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto evs = wait_for([&](Event::Reader ev) {
    return ev.getKind().isPrivilegeChange() && ev.getPid() == static_cast<uint32_t>(child);
  });
  ASSERT_EQ(evs.size(), 1u);
  auto p = evs[0].getKind().getPrivilegeChange();
  EXPECT_EQ(p.getSyscall(), "setuid");
  EXPECT_EQ(p.getOldUid(), 0u);
  EXPECT_EQ(p.getNewUid(), 65534u);
  EXPECT_EQ(p.getOldEuid(), 0u);
  EXPECT_EQ(p.getNewEuid(), 65534u);
  EXPECT_EQ(p.getResult(), 0);
  EXPECT_NE(p.getOldCaps(), 0u);
  EXPECT_EQ(p.getNewCaps(), 0u);  // dropping root clears the effective set
  EXPECT_EQ(priority_of(evs[0]), Priority::NORMAL);
}

TEST_F(EbpfTest, ExecOfSetuidBinaryGainingRootIsCritical) {
  const fs::path bin = copy_of_true("rw-suid-true", 04755);
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(97);
    execl(bin.c_str(), bin.c_str(), nullptr);
    _exit(98);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  expect_setuid_exec(child, bin);
}

// ---- HTTP ------------------------------------------------------------------------------------

// The same through the 32-bit syscall entry (int 0x80): an exec the 64-bit syscall tracepoints
// never see. sched_prepare_exec (Linux 6.10+) must catch it anyway.
TEST_F(EbpfTest, SetuidExecThroughThe32BitEntryIsCaughtToo) {
  if (!prepare_exec_hooked()) GTEST_SKIP() << "kernel without sched_prepare_exec";
  const fs::path bin = copy_of_true("rw-suid-true32", 04755);
  // The path and argv must be addressable with 32-bit pointers.
  auto* low = static_cast<char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  ASSERT_NE(low, MAP_FAILED);
  ASSERT_LT(bin.string().size(), 2000u);
  std::memcpy(low, bin.c_str(), bin.string().size() + 1);
  auto* argv32 = reinterpret_cast<uint32_t*>(low + 2048);
  argv32[0] = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(low));
  argv32[1] = 0;
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(97);
    long ret;
    asm volatile("int $0x80"
                 : "=a"(ret)
                 : "a"(11L /* ia32 execve */), "b"(low), "c"(argv32), "d"(0L)
                 : "memory");
    _exit(98);
  }
  int status = 0;
  waitpid(child, &status, 0);
  munmap(low, 4096);
  if (WIFSIGNALED(status)) GTEST_SKIP() << "no 32-bit syscall entry (ia32 emulation off): signal " << WTERMSIG(status);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the 32-bit exec itself failed";
  expect_setuid_exec(child, bin);
}

struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Starts a command with stdout on a pipe; returns its first line.
std::string spawn_read_line(Child& c, const std::vector<std::string>& argv) {
  int p[2];
  if (pipe(p) != 0) return {};
  c.pid = fork();
  if (c.pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(p[1]);
  std::string line;
  char ch;
  while (read(p[0], &ch, 1) == 1 && ch != '\n') line += ch;
  close(p[0]);
  return line;
}

struct Exchange {
  std::string request, response;
  uint16_t client_port = 0;
  uint64_t elapsed_ns = 0;
};

Exchange http_get(uint16_t port, const std::string& target) {
  Exchange x;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint64_t t0 = mono_ns();
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return x;
  sockaddr_in l{};
  socklen_t ll = sizeof(l);
  getsockname(s, reinterpret_cast<sockaddr*>(&l), &ll);
  x.client_port = ntohs(l.sin_port);
  x.request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  send(s, x.request.data(), x.request.size(), 0);
  char buf[4096];
  ssize_t n;
  while ((n = recv(s, buf, sizeof(buf), 0)) > 0) x.response.append(buf, n);
  x.elapsed_ns = mono_ns() - t0;
  close(s);
  return x;
}

TEST_F(EbpfTest, HttpPythonServer200And404And500) {
  std::ofstream(dir_ / "data.json") << R"({"answer":42})";
  const char* data = getenv("RINGWARD_TEST_DATA");
  std::string script = std::string(data ? data : "tests/ebpf") + "/http_server.py";
  Child server;
  std::string port_line = spawn_read_line(server, {"python3", script, "--dir", dir_.string(), "--lifetime", "30"});
  ASSERT_FALSE(port_line.empty());
  uint16_t port = static_cast<uint16_t>(std::stoi(port_line));
  struct Case {
    std::string target;
    uint16_t status;
    Priority prio;
  } cases[] = {{"/data.json", 200, Priority::NORMAL}, {"/nope.json", 404, Priority::NORMAL},
               {"/boom", 500, Priority::HIGH}};
  for (auto& c : cases) {
    Exchange x = http_get(port, c.target);
    ASSERT_FALSE(x.response.empty()) << c.target;
    auto evs = wait_for([&](Event::Reader ev) {
      return ev.getKind().isHttp() && ev.getKind().getHttp().getLocalPort() == port &&
             ev.getKind().getHttp().getRemotePort() == x.client_port;
    });
    ASSERT_EQ(evs.size(), 1u) << c.target;
    auto h = evs[0].getKind().getHttp();
    EXPECT_EQ(evs[0].getPid(), static_cast<uint32_t>(server.pid));
    EXPECT_EQ(h.getRole(), "server");
    EXPECT_EQ(h.getMethod(), "GET");
    EXPECT_EQ(text(h.getTarget()), c.target);
    EXPECT_EQ(h.getStatus(), c.status);
    EXPECT_EQ(text(h.getRequest()), x.request);
    EXPECT_EQ(h.getRequestSize(), x.request.size());
    std::string resp = text(h.getResponse());
    ASSERT_FALSE(resp.empty());
    EXPECT_EQ(x.response.substr(0, resp.size()), resp);
    EXPECT_GT(h.getLatencyNs(), 0u);
    EXPECT_LT(h.getLatencyNs(), x.elapsed_ns);
    EXPECT_FALSE(h.getTimedOut());
    EXPECT_FALSE(h.getTls());
    EXPECT_EQ(h.getFamily(), AF_INET);
    EXPECT_EQ(text(h.getLocalAddr()), std::string("\x7f\0\0\x01", 4));
    EXPECT_EQ(priority_of(evs[0]), c.prio);
  }
  // Loopback exchanges are reported once: no client-side record from this process.
  for (auto& e : emitter_.events)
    if (e.event().getKind().isHttp()) { EXPECT_NE(e.event().getPid(), static_cast<uint32_t>(getpid())); }
}

// One TCP connection over 127.0.0.1 inside this process: `cs` the client end, `ss` the server
// end accepted from `ls`, `port` the server port. Closed on destruction.
struct LoopbackPair {
  int ls = -1, cs = -1, ss = -1;
  uint16_t port = 0;
  LoopbackPair() {
    ls = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 1) != 0) return;
    socklen_t al = sizeof(a);
    getsockname(ls, reinterpret_cast<sockaddr*>(&a), &al);
    cs = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(cs, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    ss = accept(ls, nullptr, nullptr);
    port = ntohs(a.sin_port);
  }
  ~LoopbackPair() {
    for (int fd : {ss, cs, ls})
      if (fd >= 0) close(fd);
  }
  bool ok() const { return ss >= 0; }
};

TEST_F(EbpfTest, HttpRequestWithoutResponseTimesOut) {
  LoopbackPair p;
  ASSERT_TRUE(p.ok());
  const int cs = p.cs, ss = p.ss;
  std::string req = "POST /never HTTP/1.1\r\nHost: x\r\n\r\n";
  send(cs, req.data(), req.size(), 0);
  char buf[256];
  ssize_t n = recv(ss, buf, sizeof(buf), 0);  // this process is the server: server role
  ASSERT_EQ(n, static_cast<ssize_t>(req.size()));
  auto evs = wait_for([&](Event::Reader ev) {
    return ev.getKind().isHttp() && ev.getKind().getHttp().getLocalPort() == p.port;
  });
  ASSERT_EQ(evs.size(), 1u);
  auto h = evs[0].getKind().getHttp();
  EXPECT_TRUE(h.getTimedOut());
  EXPECT_EQ(h.getStatus(), 0);
  EXPECT_EQ(h.getMethod(), "POST");
  EXPECT_EQ(text(h.getTarget()), "/never");
  EXPECT_EQ(text(h.getRequest()), req);
  EXPECT_EQ(h.getRole(), "server");
}

// A loopback server whose response body happens to start like a request ("POST...", sent in a
// write of its own) must keep reporting the connection's later exchanges: only a socket that
// sent a request before receiving anything is remembered as a client end.
TEST_F(EbpfTest, LoopbackServerSendingRequestLikeBytesKeepsReporting) {
  LoopbackPair p;
  ASSERT_TRUE(p.ok());
  const int cs = p.cs, ss = p.ss;
  char buf[512];
  auto exchange = [&](const std::string& target, const std::string& body) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(cs, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(recv(ss, buf, sizeof(buf), 0), static_cast<ssize_t>(req.size()));
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    ASSERT_EQ(send(ss, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
    ASSERT_EQ(send(ss, body.data(), body.size(), 0), static_cast<ssize_t>(body.size()));
    size_t got = 0;
    while (got < head.size() + body.size()) {
      ssize_t n = recv(cs, buf, sizeof(buf), 0);
      ASSERT_GT(n, 0);
      got += static_cast<size_t>(n);
    }
  };
  exchange("/first", "POSTAL_CODE,12345678");
  exchange("/second", "{\"ok\":true}");
  auto evs = wait_for(
      [&](Event::Reader ev) {
        return ev.getKind().isHttp() && ev.getKind().getHttp().getLocalPort() == p.port;
      },
      2);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(text(evs[0].getKind().getHttp().getTarget()), "/first");
  EXPECT_EQ(text(evs[1].getKind().getHttp().getTarget()), "/second");
  EXPECT_EQ(evs[1].getKind().getHttp().getStatus(), 200);
  EXPECT_EQ(evs[1].getKind().getHttp().getRole(), "server");
}

uint16_t free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t l = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &l);
  close(s);
  return ntohs(a.sin_port);
}

// nginx on 127.0.0.1 (plain and TLS with a fresh self-signed certificate) serving /data.json
// (200, JSON) and /boom (500), under `ld_library_path` when given; true once it answers.
bool launch_nginx(Child& nginx, const fs::path& dir, uint16_t plain, uint16_t secure,
                const std::string& ld_library_path = "") {
  std::string d = dir.string();
  if (system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + d +
              "/key.pem -out " + d + "/cert.pem >/dev/null 2>&1").c_str()) != 0)
    return false;
  fs::create_directories(dir / "logs");
  std::ofstream(dir / "nginx.conf")
      << "daemon off; master_process off; worker_processes 1; pid " << d << "/nginx.pid;\n"
      << "error_log " << d << "/logs/error.log;\nevents { worker_connections 64; }\n"
      << "http { access_log off; default_type application/json;\n"
      << " client_body_temp_path " << d << "; proxy_temp_path " << d << "; fastcgi_temp_path " << d
      << "; uwsgi_temp_path " << d << "; scgi_temp_path " << d << ";\n"
      << " server { listen 127.0.0.1:" << plain << "; listen 127.0.0.1:" << secure << " ssl;\n"
      << "  ssl_certificate " << d << "/cert.pem; ssl_certificate_key " << d << "/key.pem;\n"
      << "  location = /data.json { return 200 '{\"ok\":true}'; }\n"
      << "  location = /boom { return 500 '{\"error\":\"boom\"}'; } } }\n";
  nginx.pid = fork();
  if (nginx.pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    if (!ld_library_path.empty()) setenv("LD_LIBRARY_PATH", ld_library_path.c_str(), 1);
    execlp("nginx", "nginx", "-p", d.c_str(), "-c", (d + "/nginx.conf").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 100; i++) {
    if (!http_get(plain, "/data.json").response.empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_F(EbpfTest, NginxPlainAndTls) {
  auto hooks = source_->active_hooks();
  bool tls = std::any_of(hooks.begin(), hooks.end(),
                         [](const std::string& h) { return h.find("SSL_read") != std::string::npos; });
  uint16_t plain = free_port(), secure = free_port();
  Child nginx;
  ASSERT_TRUE(launch_nginx(nginx, dir_, plain, secure));
  source_->pump(emitter_, std::chrono::milliseconds(20));
  emitter_.events.clear();

  for (auto [target, status] : {std::pair<std::string, int>{"/data.json", 200}, {"/boom", 500}}) {
    Exchange x = http_get(plain, target);
    ASSERT_FALSE(x.response.empty());
    auto evs = wait_for([&](Event::Reader ev) {
      return ev.getKind().isHttp() && ev.getKind().getHttp().getRemotePort() == x.client_port;
    });
    ASSERT_EQ(evs.size(), 1u);
    auto h = evs[0].getKind().getHttp();
    EXPECT_EQ(evs[0].getPid(), static_cast<uint32_t>(nginx.pid));
    EXPECT_EQ(h.getStatus(), status);
    EXPECT_EQ(text(h.getTarget()), target);
    EXPECT_EQ(text(h.getRequest()), x.request);
    // nginx writes headers and body with one writev: the body is captured too.
    std::string resp = text(h.getResponse());
    EXPECT_EQ(resp, x.response.substr(0, resp.size()));
    EXPECT_NE(resp.find(status == 200 ? "{\"ok\":true}" : "{\"error\":\"boom\"}"), std::string::npos);
    EXPECT_LT(h.getLatencyNs(), x.elapsed_ns);
  }
  if (!tls) GTEST_SKIP() << "libssl uprobes inactive: TLS part skipped";
  for (auto [target, status] : {std::pair<std::string, int>{"/data.json", 200}, {"/boom", 500}}) {
    uint64_t t0 = mono_ns();
    std::string cmd = "curl -sk -o /dev/null https://127.0.0.1:" + std::to_string(secure) + target;
    ASSERT_EQ(system(cmd.c_str()), 0);
    uint64_t elapsed = mono_ns() - t0;
    auto evs = wait_for([&](Event::Reader ev) {
      return ev.getKind().isHttp() && ev.getKind().getHttp().getTls() && ev.getKind().getHttp().getRole() == "server" &&
             text(ev.getKind().getHttp().getTarget()) == target && ev.getPid() == static_cast<uint32_t>(nginx.pid);
    });
    ASSERT_EQ(evs.size(), 1u) << target;
    auto h = evs[0].getKind().getHttp();
    EXPECT_EQ(h.getMethod(), "GET");
    EXPECT_EQ(h.getStatus(), status);
    EXPECT_GT(h.getLatencyNs(), 0u);
    EXPECT_LT(h.getLatencyNs(), elapsed);
    EXPECT_NE(text(h.getRequest()).find("Host: 127.0.0.1"), std::string::npos);
  }
  // A client on SSL_write_ex/SSL_read_ex (Python's ssl module): its own end of the exchange.
  const std::string target = "/data.json?py=" + std::to_string(mono_ns());
  Child py;
  std::string line = spawn_read_line(
      py, {"python3", "-c",
           "import os, ssl, sys, urllib.request\n"
           "libs = {l.split()[-1] for l in open('/proc/self/maps') if 'libssl' in l}\n"
           "print(os.getpid(), ' '.join(sorted(libs)), flush=True)\n"
           "ctx = ssl._create_unverified_context()\n"
           "urllib.request.urlopen('https://127.0.0.1:" + std::to_string(secure) + target +
               "', context=ctx).read()\n"});
  ASSERT_FALSE(line.empty());
  const uint32_t py_pid = static_cast<uint32_t>(std::stoul(line));
  // Only a Python on the libssl the probes are attached to can be seen.
  const std::string py_libs = line.substr(line.find(' ') + 1);
  const bool same_libssl = std::any_of(hooks.begin(), hooks.end(), [&](const std::string& h) {
    const size_t at = h.find('/');
    const size_t end = h.rfind(':');
    return at != std::string::npos && end > at && py_libs.find(h.substr(at, end - at)) != std::string::npos;
  });
  if (!same_libssl) GTEST_SKIP() << "python3 uses another libssl (" << py_libs << ")";
  auto evs = wait_for([&](Event::Reader ev) {
    return ev.getKind().isHttp() && ev.getPid() == py_pid && text(ev.getKind().getHttp().getTarget()) == target;
  });
  ASSERT_EQ(evs.size(), 1u) << "no client-side exchange from SSL_write_ex/SSL_read_ex";
  auto h = evs[0].getKind().getHttp();
  EXPECT_TRUE(h.getTls());
  EXPECT_EQ(h.getRole(), "client");
  EXPECT_EQ(h.getStatus(), 200);
  EXPECT_NE(text(h.getResponse()).find("{\"ok\":true}"), std::string::npos);
}

// libssl copies other than the system's (a program shipping its own, a container's) are found
// through the running processes' mappings and probed too: nginx on a private copy of
// libssl.so.3, started before capture, has its TLS exchanges reported from its own end.
TEST_F(EbpfTest, PrivateLibsslCopiesOfRunningProcessesAreProbed) {
  const fs::path system_copy = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  if (!fs::exists(system_copy)) GTEST_SKIP() << "no " << system_copy;
  fs::create_directories(dir_ / "lib");
  const fs::path own_copy = dir_ / "lib" / "libssl.so.3";
  fs::copy_file(system_copy, own_copy);
  uint16_t plain = free_port(), secure = free_port();
  Child nginx;
  ASSERT_TRUE(launch_nginx(nginx, dir_, plain, secure, (dir_ / "lib").string()));
  {
    std::ifstream maps("/proc/" + std::to_string(nginx.pid) + "/maps");
    std::string all((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
    ASSERT_NE(all.find(own_copy.string()), std::string::npos) << "nginx did not load the copy";
  }
  rc::EbpfOptions o;
  o.include_comms = {"nginx"};
  auto r = rc::EbpfSource::create(o, clock_);
  ASSERT_TRUE(r) << r.error;
  auto hooks = r.source->active_hooks();
  const bool hooked = std::any_of(hooks.begin(), hooks.end(), [&](const std::string& h) {
    return h == "uprobe:" + own_copy.string() + ":SSL_read";
  });
  std::string all_hooks;
  for (auto& h : hooks) all_hooks += h + " ";
  ASSERT_TRUE(hooked) << all_hooks;
  ASSERT_NE(all_hooks.find("uprobe:" + system_copy.string() + ":SSL_read"), std::string::npos) << all_hooks;

  const std::string target = "/data.json?copy=" + std::to_string(mono_ns());
  std::string cmd = "curl -sk -o /dev/null 'https://127.0.0.1:" + std::to_string(secure) + target + "'";
  ASSERT_EQ(system(cmd.c_str()), 0);
  RecordingEmitter em;
  bool found = false;
  for (int i = 0; i < 100 && !found; i++) {
    r.source->pump(em, std::chrono::milliseconds(20));
    for (auto& e : em.events) {
      auto ev = e.event();
      if (!ev.getKind().isHttp()) continue;
      auto h = ev.getKind().getHttp();
      if (h.getTls() && h.getRole() == "server" && text(h.getTarget()) == target &&
          ev.getPid() == static_cast<uint32_t>(nginx.pid)) {
        EXPECT_EQ(h.getStatus(), 200);
        EXPECT_EQ(h.getMethod(), "GET");
        found = true;
      }
    }
  }
  EXPECT_TRUE(found) << "the TLS exchange of nginx on its own libssl copy was not captured";
}

// The HTTP hooks sit on the socket data tracepoints and find the user buffer from the syscall
// that carried the data: every pairing a server may use must be captured, request and response
// (a vectored response in two iovecs, as nginx writes header and body).
enum class ServerIo { read_write, recvmsg_sendmsg, readv_writev };

// SSL_write/SSL_read return int. A failed call (-1: WANT_READ on a non-blocking socket, which
// real clients hit on every retry) must not count as bytes moved: the buffers still hold old bytes
// that look like a request and a response, and they must not be paired into an exchange.
TEST_F(EbpfTest, FailedSslCallsAreNotReadAsData) {
  auto hooks = source_->active_hooks();
  const bool tls = std::any_of(hooks.begin(), hooks.end(),
                               [](const std::string& h) { return h.find("SSL_read") != std::string::npos; });
  if (!tls) GTEST_SKIP() << "libssl uprobes not active";
  void* lib = dlopen("libssl.so.3", RTLD_NOW);
  if (lib == nullptr) GTEST_SKIP() << "libssl.so.3 not loadable";
  auto sym = [&](const char* n) { return dlsym(lib, n); };
  auto method = reinterpret_cast<const void* (*)()>(sym("TLS_client_method"));
  auto ctx_new = reinterpret_cast<void* (*)(const void*)>(sym("SSL_CTX_new"));
  auto ssl_new = reinterpret_cast<void* (*)(void*)>(sym("SSL_new"));
  auto set_fd = reinterpret_cast<int (*)(void*, int)>(sym("SSL_set_fd"));
  auto ssl_write = reinterpret_cast<int (*)(void*, const void*, int)>(sym("SSL_write"));
  auto ssl_read = reinterpret_cast<int (*)(void*, void*, int)>(sym("SSL_read"));
  auto ssl_free = reinterpret_cast<void (*)(void*)>(sym("SSL_free"));
  auto ctx_free = reinterpret_cast<void (*)(void*)>(sym("SSL_CTX_free"));
  ASSERT_TRUE(method && ctx_new && ssl_new && set_fd && ssl_write && ssl_read && ssl_free && ctx_free);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  void* ctx = ctx_new(method());
  void* ssl = ssl_new(ctx);
  ASSERT_TRUE(ctx && ssl);
  ASSERT_EQ(set_fd(ssl, sv[0]), 1);
  const std::string target = "/rw-stale-" + std::to_string(mono_ns());
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  char resp[64] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  // No peer ever answers the handshake: both calls fail with -1 (WANT_READ).
  EXPECT_EQ(ssl_write(ssl, req.data(), static_cast<int>(req.size())), -1);
  EXPECT_EQ(ssl_read(ssl, resp, sizeof(resp)), -1);
  ssl_free(ssl);
  ctx_free(ctx);
  close(sv[0]);
  close(sv[1]);
  // A marker after the calls: records arrive in order, so once it is here, an exchange made of
  // the stale buffers would be too.
  fs::path marker = dir_ / ("rw-ssl-marker-" + std::to_string(mono_ns()));
  close(open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  bool stale = false;
  auto seen = wait_for([&](Event::Reader ev) {
    if (ev.getKind().isHttp() && text(ev.getKind().getHttp().getTarget()) == target) stale = true;
    return ev.getKind().isFileOpen() && text(ev.getKind().getFileOpen().getPath()) == marker.string();
  });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(stale) << "a failed SSL_write/SSL_read pair was reported as an HTTP exchange";
}

TEST_F(EbpfTest, HttpServerSyscallVariantsArePaired) {
  const std::string body = R"({"ok":true})";
  const std::string head = "HTTP/1.1 201 Created\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  for (auto io : {ServerIo::read_write, ServerIo::recvmsg_sendmsg, ServerIo::readv_writev}) {
    SCOPED_TRACE(static_cast<int>(io));
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(lfd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen);
    ASSERT_EQ(listen(lfd, 1), 0);
    const std::string comm = "rwhttpio" + std::to_string(static_cast<int>(io));
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);  // bounded even if the parent never connects
      prctl(PR_SET_NAME, comm.c_str());
      int c = accept(lfd, nullptr, nullptr);
      if (c < 0) _exit(1);
      char buf[512];
      iovec in{buf, sizeof(buf)};
      msghdr mh{};
      mh.msg_iov = &in;
      mh.msg_iovlen = 1;
      ssize_t n = io == ServerIo::read_write      ? read(c, buf, sizeof(buf))
                  : io == ServerIo::recvmsg_sendmsg ? recvmsg(c, &mh, 0)
                                                    : readv(c, &in, 1);
      if (n <= 0) _exit(2);
      iovec out[2] = {{const_cast<char*>(head.data()), head.size()},
                      {const_cast<char*>(body.data()), body.size()}};
      std::string whole = head + body;
      msghdr om{};
      om.msg_iov = out;
      om.msg_iovlen = 2;
      ssize_t w = io == ServerIo::read_write      ? write(c, whole.data(), whole.size())
                  : io == ServerIo::recvmsg_sendmsg ? sendmsg(c, &om, 0)
                                                    : writev(c, out, 2);
      _exit(w == static_cast<ssize_t>(whole.size()) ? 0 : 3);
    }
    close(lfd);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const std::string target = "/io-" + comm;
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    uint64_t t0 = mono_ns();
    ASSERT_EQ(send(cfd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    std::string got;
    char rb[512];
    ssize_t n;
    while ((n = recv(cfd, rb, sizeof(rb), 0)) > 0) got.append(rb, n);
    uint64_t elapsed = mono_ns() - t0;
    close(cfd);
    int status = -1;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    ASSERT_EQ(got, head + body);
    auto evs = wait_for([&](Event::Reader ev) {
      return ev.getKind().isHttp() && text(ev.getComm()) == comm;
    });
    ASSERT_EQ(evs.size(), 1u) << "no exchange captured from " << comm;
    auto h = evs[0].getKind().getHttp();
    EXPECT_EQ(h.getRole(), "server");
    EXPECT_EQ(std::string(h.getMethod().cStr()), "GET");
    EXPECT_EQ(text(h.getTarget()), target);
    EXPECT_EQ(h.getStatus(), 201);
    EXPECT_EQ(text(h.getRequest()), req);
    EXPECT_EQ(text(h.getResponse()), head + body);  // both iovecs
    EXPECT_EQ(h.getRequestSize(), req.size());
    EXPECT_EQ(h.getResponseSize(), head.size() + body.size());
    EXPECT_FALSE(h.getTimedOut());
    EXPECT_GT(h.getLatencyNs(), 0u);
    EXPECT_LT(h.getLatencyNs(), elapsed);
    EXPECT_EQ(h.getLocalPort(), ntohs(a.sin_port));
    EXPECT_EQ(evs[0].getPid(), static_cast<uint32_t>(child));
  }
}

// ---- cgroup and uid filters --------------------------------------------------------------------

TEST(CgroupFilter, MountinfoLevelsAndResolution) {
  const std::string hybrid =
      "25 1 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
      "27 25 0:25 / /sys/fs/cgroup/cpu rw,nosuid shared:11 - cgroup cgroup rw,cpu\n"
      "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(rc::cgroup2_mount_in(hybrid), "/sys/fs/cgroup/unified");
  EXPECT_EQ(rc::cgroup2_mount_in("30 1 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n"), "/mnt/my cg");
  EXPECT_EQ(rc::cgroup2_mount_in("27 25 0:25 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), "");
  EXPECT_EQ(rc::cgroup2_mount_in("garbage\n\n - \n"), "");
  const std::string mount = rc::cgroup2_mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 mount";
  auto root = rc::resolve_cgroup(mount, "/");
  ASSERT_TRUE(root.subtree) << root.error;
  EXPECT_EQ(root.subtree->dir, mount + "/");
  auto missing = rc::resolve_cgroup(mount, "/rw-no-such-cgroup");
  EXPECT_FALSE(missing.subtree);
  EXPECT_NE(missing.error.find("/rw-no-such-cgroup"), std::string::npos) << missing.error;
  auto not_cgroup = rc::resolve_cgroup("/tmp", "/");
  EXPECT_FALSE(not_cgroup.subtree);
  EXPECT_NE(not_cgroup.error.find("not a cgroup2"), std::string::npos) << not_cgroup.error;
}

// Filters by cgroup cover the subtree (a process in a child cgroup of the listed one), and by uid
// the process's uid at the event. Each filter on a source of its own, the same three processes.
TEST_F(EbpfTest, CgroupAndUidFiltersSelectWhatIsCaptured) {
  const std::string mount = rc::cgroup2_mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 mount";
  const std::string top = "/rw-test-" + std::to_string(getpid());
  const std::string inner = mount + top + "/inner";
  ASSERT_TRUE(fs::create_directories(inner)) << inner;
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      rmdir(b.c_str());
      rmdir(a.c_str());
    }
  } cleanup{mount + top, inner};
  auto sub = rc::resolve_cgroup(mount, top);
  ASSERT_TRUE(sub.subtree) << sub.error;
  ASSERT_NE(sub.subtree->id, own_cgroup_id());

  // One open attempt of `path` in a child: in the inner cgroup when `inside`, as `uid`.
  auto child_opens = [&](bool inside, uid_t uid, const std::string& path) {
    pid_t c = fork();
    if (c == 0) {
      if (inside) {
        std::ofstream procs(inner + "/cgroup.procs");
        procs << getpid() << std::flush;
        if (!procs) _exit(97);
      }
      if (uid != 0 && setresuid(uid, uid, uid) != 0) _exit(96);
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);  // missing: the attempt is the event
      if (fd >= 0) close(fd);
      _exit(0);
    }
    int status = 0;
    waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  };
  // Which of (inside, outside, nobody) a source with `o` captured, as "IOn" letters, and how
  // many file opens it left out.
  int round = 0;
  auto captured_with = [&](rc::EbpfOptions o, uint64_t& filtered) {
    o.http_capture = false;
    auto r = rc::EbpfSource::create(o, clock_);
    EXPECT_TRUE(r) << r.error;
    if (!r) return std::string("?");
    const std::string tag = std::to_string(getpid()) + "-" + std::to_string(++round);
    const std::string in = (dir_ / ("rw-cg-in-" + tag)).string();
    const std::string out = (dir_ / ("rw-cg-out-" + tag)).string();
    const std::string nobody = (dir_ / ("rw-cg-nobody-" + tag)).string();
    child_opens(true, 0, in);
    child_opens(false, 0, out);
    child_opens(false, 65534, nobody);
    RecordingEmitter em;
    for (int i = 0; i < 10; i++) r.source->pump(em, std::chrono::milliseconds(20));
    std::string seen;
    for (auto& e : em.events) {
      if (!e.event().getKind().isFileOpen()) continue;
      const std::string p = text(e.event().getKind().getFileOpen().getPath());
      if (p == in) seen += 'I';
      if (p == out) seen += 'O';
      if (p == nobody) seen += 'n';
    }
    std::sort(seen.begin(), seen.end());
    filtered = r.source->counters()[rc::EbpfKind::file_open].filtered;
    return seen;
  };
  uint64_t filtered = 0;
  rc::EbpfOptions none;
  EXPECT_EQ(captured_with(none, filtered), "IOn");  // all three, seen when nothing is filtered
  rc::EbpfOptions excl;
  excl.exclude_cgroups = {*sub.subtree};
  EXPECT_EQ(captured_with(excl, filtered), "On");
  EXPECT_GE(filtered, 1u);
  rc::EbpfOptions incl;
  incl.include_cgroups = {*sub.subtree};
  EXPECT_EQ(captured_with(incl, filtered), "I");
  EXPECT_GE(filtered, 2u);
  rc::EbpfOptions uids;
  uids.include_uids = {65534};
  EXPECT_EQ(captured_with(uids, filtered), "n");
  EXPECT_GE(filtered, 2u);
}

// ---- accounting under overload -----------------------------------------------------------------

TEST_F(EbpfTest, FloodDropsAreExactlyCounted) {
  rc::EbpfOptions o;
  o.include_comms = {"rwflood"};
  o.http_capture = false;
  o.ring_buffer_bytes = 64 * 1024;  // ~100 file records: the flood must overflow it
  auto r = rc::EbpfSource::create(o, clock_);
  ASSERT_TRUE(r) << r.error;
  constexpr int kOpens = 20000;
  std::string path = (dir_ / "rw-flood-missing").string();
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "rwflood");
    for (int i = 0; i < kOpens; i++) open(path.c_str(), O_RDONLY);
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  RecordingEmitter em;
  uint64_t received = 0;
  for (int i = 0; i < 50; i++) {
    size_t before = em.events.size();
    r.source->pump(em, std::chrono::milliseconds(10));
    if (em.events.size() == before && i > 3) break;
  }
  for (auto& e : em.events)
    if (e.event().getKind().isFileOpen() && text(e.event().getKind().getFileOpen().getPath()) == path) received++;
  uint64_t lost = 0;
  for (auto& l : em.lost) {
    EXPECT_EQ(l.stage, "kernel");
    EXPECT_EQ(l.reason, "ringbuf_full");
    if (l.kind == "file_open") lost += l.count;
  }
  auto c = r.source->counters();
  EXPECT_GT(lost, 0u) << "the flood did not overflow the ring";
  EXPECT_EQ(received + lost, static_cast<uint64_t>(kOpens));
  EXPECT_EQ(c[rc::EbpfKind::file_open].ringbuf_full, lost);
  EXPECT_EQ(c[rc::EbpfKind::file_open].received, received);
  EXPECT_EQ(c[rc::EbpfKind::file_open].kernel_emitted, received);
}

// Waits for `child`, which must exit 0, then pumps `source` until it has handed over what the
// kernel holds for it.
bool reap_and_drain(pid_t child, rc::EbpfSource& source, RecordingEmitter& em) {
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  for (int i = 0; i < 5; i++) source.pump(em, std::chrono::milliseconds(10));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A source on a 64 KiB kernel ring that passes only processes named `comm`, and the file-open
// path whose record takes exactly 128 bytes of it.
struct SmallRing {
  static constexpr uint32_t kBytes = 64 * 1024;
  static constexpr size_t kOpenRecord = 128;
  // A reservation may take the ring up to one byte short of full.
  static constexpr size_t kOpensThatFit = (kBytes - 1) / kOpenRecord;
  static constexpr size_t kPathLen = kOpenRecord - 8 - offsetof(rw_file_open, path) - 1;  // + NUL
  std::string filler = std::string(kPathLen, 'f');
  rc::EbpfOpenResult r;
};

SmallRing small_ring_source(const char* comm, const ringward::Clock& clock) {
  SmallRing ring;
  rc::EbpfOptions o;
  o.include_comms = {comm};
  o.http_capture = false;
  o.ring_buffer_bytes = SmallRing::kBytes;
  ring.r = rc::EbpfSource::create(o, clock);
  return ring;
}

// A privilege-change record the full kernel ring had no room for is reported before any event
// that follows it, even one that found room (a smaller record): the processor judges a thread's
// uid continuity and must learn of the gap before it sees the thread's next event, and not ahead
// of the records from before it (it would relearn the old ids after forgetting them). The ring
// is filled to an exact remainder of three file opens, less than one privilege record: a lost
// change, two opens, a second lost change, a last open. Each loss must be reported between the
// records around it, whether the report comes from the next record or from the periodic check.
TEST_F(EbpfTest, LostPrivilegeChangeIsReportedBeforeTheEventsAfterIt) {
  auto record = [](size_t data) { return (8 + data + 7) / 8 * 8; };  // ringbuf header + padding
  const size_t path_len = SmallRing::kPathLen;
  ASSERT_EQ(record(offsetof(rw_file_open, path) + path_len + 1), SmallRing::kOpenRecord);
  // 3 opens of room are left, less than one privilege record.
  const size_t fill = SmallRing::kOpensThatFit - 3;
  ASSERT_LT(SmallRing::kBytes - 1 - fill * SmallRing::kOpenRecord, record(sizeof(rw_priv)));
  // Uid-changing privilege records of other processes pass the name filter and would take ring
  // space the arithmetic counts on: such an attempt is not judged, the next one is.
  for (int attempt = 1;; attempt++) {
    SmallRing ring = small_ring_source("rwprivlost", clock_);
    auto& r = ring.r;
    ASSERT_TRUE(r) << r.error;
    const std::string& filler = ring.filler;
    const std::string marker[3] = {"a" + std::string(path_len - 1, 'k'), "b" + std::string(path_len - 1, 'k'),
                                   "c" + std::string(path_len - 1, 'k')};
    pid_t child = fork();
    if (child == 0) {
      prctl(PR_SET_NAME, "rwprivlost");
      if (chdir(dir_.c_str()) != 0) _exit(99);
      for (size_t i = 0; i < fill; i++) open(filler.c_str(), O_RDONLY);
      if (setresuid(0, 0, 0) != 0) _exit(98);  // no room: lost
      open(marker[0].c_str(), O_RDONLY);
      open(marker[1].c_str(), O_RDONLY);
      if (setresuid(0, 0, 0) != 0) _exit(97);  // no room: lost
      open(marker[2].c_str(), O_RDONLY);
      _exit(0);
    }
    RecordingEmitter em;
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    // A pump with no time left stops after its first batch of records, the older ones still
    // queued: the periodic loss report must not overtake them, in this pump (the losses are
    // newer than its last look at the kernel's count) nor in the next one that stops early
    // too (it has not reached where the ring was when the count was read).
    r.source->pump(em, std::chrono::milliseconds(0));
    r.source->pump(em, std::chrono::milliseconds(0));
    ASSERT_LT(em.events.size(), fill) << "the first pumps were meant to stop early";
    for (int i = 0; i < 5; i++) r.source->pump(em, std::chrono::milliseconds(10));
    size_t fillers = 0, others = 0, after_last_filler = 0;
    size_t at[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t i = 0; i < em.events.size(); i++) {
      auto ev = em.events[i].event();
      const std::string p = ev.getKind().isFileOpen() ? text(ev.getKind().getFileOpen().getPath()) : "";
      bool mine = ev.getKind().isProcessExit() && ev.getPid() == static_cast<uint32_t>(child);
      for (int m = 0; m < 3; m++)
        if (p == marker[m]) at[m] = i, mine = true;
      if (p == filler) fillers++, after_last_filler = i + 1;
      else if (!mine) others++;
    }
    // Someone else's record in the ring, or someone else's uid change lost to it.
    const auto counted = r.source->counters();
    const uint64_t priv_lost =
        counted.kinds[static_cast<size_t>(rc::EbpfKind::privilege)].ringbuf_full + counted.priv_untracked;
    if ((others > 0 || priv_lost != 2) && attempt < 3) continue;
    ASSERT_EQ(fillers, fill) << others << " other records";
    for (int m = 0; m < 3; m++) ASSERT_NE(at[m], SIZE_MAX) << "open " << m << " after a lost record found no room";
    std::vector<const Lost*> losses;
    for (const auto& l : em.lost)
      if (l.kind == "privilege_change") losses.push_back(&l);
    ASSERT_EQ(losses.size(), 2u) << "each lost change is reported on its own, between the records around it";
    for (const Lost* l : losses) {
      EXPECT_EQ(l->reason, "ringbuf_full");
      EXPECT_EQ(l->count, 1u);
    }
    EXPECT_GE(losses[0]->events_before, after_last_filler) << "the first loss overtook records from before it";
    EXPECT_LE(losses[0]->events_before, at[0]) << "the first loss came after the record that followed it";
    EXPECT_GT(losses[1]->events_before, at[1]) << "the second loss overtook records from before it";
    EXPECT_LE(losses[1]->events_before, at[2]) << "the second loss came after the record that followed it";
    break;
  }
}

// A lost privilege change with no record after it (the ring stays full to the end) is held back
// until a complete drain settles it; when capture stops, finish() reports it.
TEST_F(EbpfTest, LostPrivilegeChangeWithNothingAfterItIsReportedAtFinish) {
  const size_t fill = SmallRing::kOpensThatFit;  // full
  SmallRing ring = small_ring_source("rwprivlast", clock_);
  auto& r = ring.r;
  ASSERT_TRUE(r) << r.error;
  const std::string& filler = ring.filler;
  int done[2];
  ASSERT_EQ(pipe(done), 0);
  // The child stays alive until finish() ran: its exit record would carry the loss in-band.
  Child child;
  child.pid = fork();
  if (child.pid == 0) {
    prctl(PR_SET_NAME, "rwprivlast");
    close(done[0]);
    if (chdir(dir_.c_str()) != 0) _exit(99);
    for (size_t i = 0; i < fill; i++) open(filler.c_str(), O_RDONLY);
    if (setresuid(0, 0, 0) != 0) _exit(98);  // no room: lost
    if (write(done[1], "k", 1) != 1) _exit(97);
    for (;;) pause();
  }
  close(done[1]);
  char ch = 0;
  ASSERT_EQ(read(done[0], &ch, 1), 1) << "the child failed before its privilege change";
  close(done[0]);
  RecordingEmitter em;
  r.source->pump(em, std::chrono::milliseconds(0));  // stops after its first batch
  auto priv_losses = [&] {
    uint64_t n = 0;
    for (const auto& l : em.lost) n += l.kind == "privilege_change" ? l.count : 0;
    return n;
  };
  EXPECT_EQ(priv_losses(), 0u) << "reported before the records ahead of it were handed over";
  r.source->finish(em);
  EXPECT_GE(priv_losses(), 1u) << "the last loss was not reported when capture finished";
  size_t fillers = 0;
  for (auto& e : em.events)
    fillers += e.event().getKind().isFileOpen() &&
               text(e.event().getKind().getFileOpen().getPath()) == filler;
  EXPECT_LE(fillers, fill);
  EXPECT_GT(fillers, 64u) << "finish() drains what the ring still holds";
}

// While the kernel ring is full, the exit of a process the filters leave out counts as filtered,
// not as lost: it is judged before it asks for ring space.
TEST_F(EbpfTest, FilteredExitsWhileTheRingIsFullAreNotLosses) {
  SmallRing ring = small_ring_source("rwexitfull", clock_);
  auto& r = ring.r;
  ASSERT_TRUE(r) << r.error;
  int done[2];
  ASSERT_EQ(pipe(done), 0);
  Child filler;  // fills the ring and stays alive: its own exit is not part of this
  filler.pid = fork();
  if (filler.pid == 0) {
    prctl(PR_SET_NAME, "rwexitfull");
    close(done[0]);
    if (chdir(dir_.c_str()) != 0) _exit(99);
    for (size_t i = 0; i < SmallRing::kOpensThatFit + 8; i++) open(ring.filler.c_str(), O_RDONLY);
    if (write(done[1], "k", 1) != 1) _exit(97);
    for (;;) pause();
  }
  close(done[1]);
  char ch = 0;
  ASSERT_EQ(read(done[0], &ch, 1), 1);
  close(done[0]);
  const auto before = r.source->counters().kinds[static_cast<size_t>(rc::EbpfKind::exit)];
  for (int i = 0; i < 5; i++) {  // processes of another name come and go
    pid_t other = fork();
    if (other == 0) _exit(0);
    waitpid(other, nullptr, 0);
  }
  const auto after = r.source->counters().kinds[static_cast<size_t>(rc::EbpfKind::exit)];
  EXPECT_GE(after.filtered - before.filtered, 5u);
  EXPECT_EQ(after.ringbuf_full, before.ringbuf_full) << "filtered exits were counted as lost";
  EXPECT_GT(r.source->counters().kinds[static_cast<size_t>(rc::EbpfKind::file_open)].ringbuf_full, 0u)
      << "the ring was meant to be full";
}

// Counts the threads of `pid` that are inside syscall `nr` right now.
int threads_in_syscall(pid_t pid, long nr) {
  int n = 0;
  std::error_code ec;
  for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(t.path() / "syscall");
    long current = -1;
    if (f >> current && current == nr) n++;
  }
  return n;
}

// A thread's ids from a set*id or capset entry wait in that thread's own storage until its exit.
// A table shared by all threads could be filled on purpose: threads parked inside capset (its
// data read from a page whose fault is never resolved) would each hold an entry, and every other
// thread's change would go untracked. Here more threads are parked so than such a table (4096)
// held, and another process's uid change is still reported, with no loss.
TEST_F(EbpfTest, ThreadsParkedInsideCapsetCannotCrowdOutAnotherThreadsChange) {
  constexpr int kParked = 4500;
  rc::EbpfOptions o;
  o.include_comms = {"rwprivpark"};
  o.http_capture = false;
  auto r = rc::EbpfSource::create(o, clock_);
  ASSERT_TRUE(r) << r.error;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  Child parker;
  parker.pid = fork();
  ASSERT_GE(parker.pid, 0) << "fork: " << strerror(errno);
  if (parker.pid == 0) {
    close(ready[0]);
    const int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC));
    if (uffd < 0) _exit(77);
    uffdio_api api{};
    api.api = UFFD_API;
    if (ioctl(uffd, UFFDIO_API, &api) != 0) _exit(77);
    void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uintptr_t>(page);
    reg.range.len = 4096;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (page == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) _exit(77);
    static __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < kParked; i++) {
      pthread_t t;
      auto park = [](void* data) -> void* {
        syscall(SYS_capset, &header, data);  // blocks reading `data` until the process dies
        return nullptr;
      };
      if (int e = pthread_create(&t, &attr, park, page); e != 0) _exit(e == EAGAIN ? 76 : 90);
    }
    if (write(ready[1], "k", 1) != 1) _exit(91);
    for (;;) pause();
  }
  close(ready[1]);
  char ch = 0;
  const bool started = read(ready[0], &ch, 1) == 1;
  close(ready[0]);
  if (!started) {
    int status = 0;
    waitpid(parker.pid, &status, 0);
    parker.pid = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << "no userfaultfd here";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 76)
      GTEST_SKIP() << "this machine's task limit is below " << kParked << " threads";
    FAIL() << "the parking process failed: status " << status;
  }
  int parked = 0;
  for (uint64_t end = mono_ns() + 30'000'000'000ULL; mono_ns() < end; usleep(20'000))
    if ((parked = threads_in_syscall(parker.pid, SYS_capset)) >= kParked) break;
  ASSERT_EQ(parked, kParked) << "threads parked inside capset";

  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "rwprivpark");
    if (setresuid(65534, 65534, 65534) != 0) _exit(98);
    _exit(0);
  }
  RecordingEmitter em;
  ASSERT_TRUE(reap_and_drain(child, *r.source, em));
  size_t changes = 0;
  for (auto& e : em.events) {
    auto ev = e.event();
    if (ev.getKind().isPrivilegeChange() && ev.getPid() == static_cast<uint32_t>(child)) {
      changes++;
      EXPECT_EQ(ev.getKind().getPrivilegeChange().getOldUid(), 0u);
      EXPECT_EQ(ev.getKind().getPrivilegeChange().getNewUid(), 65534u);
    }
  }
  EXPECT_EQ(changes, 1u) << "the uid change was not reported while threads were parked";
  for (const auto& l : em.lost) EXPECT_NE(l.reason, "untracked");
  EXPECT_EQ(r.source->counters().priv_untracked, 0u);
  kill(parker.pid, SIGKILL);  // wakes the parked threads (the fault wait is killable)
}

// Forks a child that runs `whole` while it has one thread (its set*id calls change the whole
// process), then starts a second thread that runs `own` (its raw set*id calls change that
// thread only) and execs `bin`; reaps it and returns its pid, or -1 when it did not exit 0.
pid_t exec_from_second_thread(const fs::path& bin, bool (*whole)(), bool (*own)()) {
  static bool (*thread_own)();
  thread_own = own;
  pid_t child = fork();
  if (child == 0) {
    if (!whole()) _exit(97);
    pthread_t t;
    auto run = [](void* path) -> void* {
      if (!thread_own()) _exit(94);
      execl(static_cast<const char*>(path), static_cast<const char*>(path), nullptr);
      _exit(98);
    };
    if (pthread_create(&t, nullptr, run, const_cast<char*>(bin.c_str())) != 0) _exit(96);
    pthread_join(t, nullptr);
    _exit(95);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? child : -1;
}

// An exec by a thread other than the leader: the thread takes over the leader's tid and start
// time, so the privilege gain is reported under the identity the process has after the exec,
// the same as its exec event's (the processor follows a thread's ids by that identity).
TEST_F(EbpfTest, SetuidExecFromASecondThreadIsReportedAsTheProcessItBecomes) {
  const fs::path bin = copy_of_true("rw-suid-thread", 04755);
  const pid_t child = exec_from_second_thread(
      bin, [] { return setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0; },
      [] { return true; });
  ASSERT_GT(child, 0);
  auto [priv, exec] = exec_records_of(child);
  ASSERT_TRUE(priv && exec) << "privilege record " << !!priv << ", exec " << !!exec;
  EXPECT_EQ(priv->getKind().getPrivilegeChange().getNewEuid(), 0u);
  EXPECT_EQ(priv->getTid(), static_cast<uint32_t>(child));
  EXPECT_EQ(exec->getTid(), static_cast<uint32_t>(child));
  EXPECT_NE(priv->getThreadStartNs(), 0u);
  EXPECT_EQ(priv->getThreadStartNs(), exec->getThreadStartNs());
}

// A thread that became root on its own (a raw per-thread setresuid, reported under its own
// identity) while the leader stayed unprivileged, then execs a plain binary: the exec gains
// nothing, but the process identity it takes over goes from the leader's ids to root, and that
// is reported (or the processor, which knew the leader as uid 1000, would see an unreported
// change).
TEST_F(EbpfTest, ExecByAThreadHoldingOtherIdsThanTheLeaderIsReported) {
  if (!prepare_exec_hooked()) GTEST_SKIP() << "kernel without sched_prepare_exec";
  const fs::path bin = copy_of_true("rw-thread-true", 0755);
  const pid_t child = exec_from_second_thread(
      bin, [] { return setresuid(1000, 1000, 0) == 0; },
      [] { return syscall(SYS_setresuid, 0, 0, 0) == 0; });
  ASSERT_GT(child, 0);
  auto [priv, exec] = exec_records_of(child);
  ASSERT_TRUE(priv && exec) << "privilege record " << !!priv << ", exec " << !!exec;
  auto p = priv->getKind().getPrivilegeChange();
  EXPECT_EQ(p.getOldUid(), 1000u);
  EXPECT_EQ(p.getOldEuid(), 1000u);
  EXPECT_EQ(p.getNewUid(), 0u);
  EXPECT_EQ(p.getNewEuid(), 0u);
  EXPECT_EQ(priv->getTid(), static_cast<uint32_t>(child));
  EXPECT_EQ(priv->getThreadStartNs(), exec->getThreadStartNs());
  EXPECT_EQ(exec->getUid(), 0u);
}

// An exec that gains only an effective gid (a set-gid binary) passes the name filters too, and
// the record shows the gid it gained.
TEST_F(EbpfTest, SetgidExecPassesTheNameFiltersAndShowsTheGainedGid) {
  rc::EbpfOptions o;
  o.include_comms = {"rw-nobody-such"};
  o.http_capture = false;
  auto r = rc::EbpfSource::create(o, clock_);
  ASSERT_TRUE(r) << r.error;
  const fs::path bin = copy_of_true("rw-sgid-true", 02755);
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(97);
    execl(bin.c_str(), bin.c_str(), nullptr);
    _exit(98);
  }
  RecordingEmitter em;
  ASSERT_TRUE(reap_and_drain(child, *r.source, em));
  std::vector<Event::Reader> execs;
  for (auto& e : em.events) {
    auto ev = e.event();
    if (ev.getKind().isPrivilegeChange() && ev.getPid() == static_cast<uint32_t>(child) &&
        ev.getKind().getPrivilegeChange().getSyscall() == "exec")
      execs.push_back(ev);
  }
  ASSERT_EQ(execs.size(), 1u) << "the set-gid exec was filtered out by name";
  auto p = execs[0].getKind().getPrivilegeChange();
  EXPECT_EQ(p.getSyscall(), "exec");
  EXPECT_EQ(p.getOldEuid(), 65534u);
  EXPECT_EQ(p.getNewEuid(), 65534u);
  EXPECT_EQ(p.getOldGid(), 65534u);
  EXPECT_EQ(p.getNewGid(), 65534u);
  EXPECT_EQ(p.getOldEgid(), 65534u);
  EXPECT_EQ(p.getNewEgid(), 0u);
  EXPECT_EQ(text(p.getFilename()), bin.string());
  // Group root gained without effective root: kept first when the shared ring is full.
  EXPECT_EQ(execs[0].getPriority(), Priority::CRITICAL);
}

// A privilege change that changes a uid passes the name (and cgroup) filters: exec renames a
// process, so the events around the change may pass a name filter the change itself fails, and
// the stream must never show a thread's uid changing without the change. So does one that takes
// group 0 (a name is the caller's to choose). Any other change is filtered like any event.
TEST_F(EbpfTest, UidChangesAndGroupRootTakenPassTheNameFilters) {
  rc::EbpfOptions o;
  o.include_comms = {"rw-nobody-such"};
  o.http_capture = false;
  auto r = rc::EbpfSource::create(o, clock_);
  ASSERT_TRUE(r) << r.error;
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "rwuidfilter");
    if (setresuid(0, 0, 0) != 0) _exit(98);  // no change: filtered by name
    if (setresgid(65534, 65534, 65534) != 0) _exit(96);  // groups only, not to 0: filtered
    if (setresgid(0, 0, 0) != 0) _exit(95);  // group 0 taken: shown
    if (setresuid(65534, 65534, 65534) != 0) _exit(97);  // shown
    _exit(0);
  }
  RecordingEmitter em;
  ASSERT_TRUE(reap_and_drain(child, *r.source, em));
  std::vector<std::string> changes;  // "syscall old->new" of the child's uid or gid
  for (auto& e : em.events) {
    auto ev = e.event();
    if (!ev.getKind().isPrivilegeChange() || ev.getPid() != static_cast<uint32_t>(child)) continue;
    auto p = ev.getKind().getPrivilegeChange();
    const bool gid = std::string(p.getSyscall().cStr()) == "setresgid";
    changes.push_back(std::string(p.getSyscall().cStr()) + " " +
                      std::to_string(gid ? p.getOldGid() : p.getOldUid()) + "->" +
                      std::to_string(gid ? p.getNewGid() : p.getNewUid()));
  }
  EXPECT_EQ(changes, (std::vector<std::string>{"setresgid 65534->0", "setresuid 0->65534"}));
}

// ---- privilege drop ----------------------------------------------------------------------------

// The capture process drops every capability and sets no_new_privs after create(); pump() must
// keep delivering through what it already holds. Run in a child so this test process keeps root.
TEST_F(EbpfTest, KeepsCapturingAfterDroppingAllCapabilities) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string marker = (dir_ / "rw-after-drop").string();
  pid_t child = fork();
  if (child == 0) {
    close(p[0]);
    rc::EbpfOptions o;
    o.include_comms = {"rwdropper"};
    o.http_capture = false;
    ringward::SystemClock clk;
    auto r = rc::EbpfSource::create(o, clk);
    if (!r) _exit(10);
    // Capture's own drop: every capability, no_new_privs, its seccomp allowlist.
    if (!ringward::capture::enter_capture_sandbox().empty()) _exit(11);
    if (write(p[1], "r", 1) != 1) _exit(13);
    RecordingEmitter em;
    for (int i = 0; i < 300; i++) {
      r.source->pump(em, std::chrono::milliseconds(10));
      for (auto& e : em.events)
        if (e.event().getKind().isFileOpen() && text(e.event().getKind().getFileOpen().getPath()) == marker) {
          // Shutdown detaches every link inside the sandbox (libbpf disables perf-event links
          // with an ioctl): it must end in exit 0, not in a seccomp kill.
          r.source.reset();
          (void)!write(p[1], "y", 1);
          _exit(0);
        }
    }
    _exit(14);
  }
  close(p[1]);
  char ch = 0;
  ASSERT_EQ(read(p[0], &ch, 1), 1);
  ASSERT_EQ(ch, 'r');
  std::ifstream status("/proc/" + std::to_string(child) + "/status");
  std::string line, capeff, nnp;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) capeff = line;
    if (line.rfind("NoNewPrivs:", 0) == 0) nnp = line;
  }
  EXPECT_EQ(capeff, "CapEff:\t0000000000000000");
  EXPECT_EQ(nnp, "NoNewPrivs:\t1");
  pid_t opener = fork();
  if (opener == 0) {
    prctl(PR_SET_NAME, "rwdropper");
    open(marker.c_str(), O_RDONLY);
    _exit(0);
  }
  waitpid(opener, nullptr, 0);
  ch = 0;
  EXPECT_EQ(read(p[0], &ch, 1), 1);
  EXPECT_EQ(ch, 'y');
  close(p[0]);
  int st = 0;
  waitpid(child, &st, 0);
  ASSERT_TRUE(WIFEXITED(st)) << "capture child killed by signal " << WTERMSIG(st);
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

}  // namespace
