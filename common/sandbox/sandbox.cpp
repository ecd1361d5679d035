// Process sandbox implementation: raw prctl/capset/unshare/setres*id syscalls and libseccomp.
// Trust: runs while the process is still trusted; every step is one-way.
#include "common/sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace ringward::sandbox {

std::string SandboxStatus::describe() const {
  if (!failed_) return "ok";
  std::string out = doing_;
  out += ": ";
  out += std::strerror(errnum_);
  const char* name = strerrorname_np(errnum_);
  if (name != nullptr) {
    out += " (";
    out += name;
    out += ")";
  }
  return out;
}

namespace {

SandboxStatus errno_failure(std::string doing) { return SandboxStatus::failure(errno, std::move(doing)); }

}  // namespace

// ---- rlimits --------------------------------------------------------------------------------

int lowest_free_fd() {
  for (int fd = 0;; ++fd) {
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) return fd;
  }
}

SandboxStatus set_rlimits(const RlimitPolicy& policy) {
  struct Item {
    int resource;
    const char* name;
    std::optional<rlim_t> value;
  };
  const rlim_t nofile = policy.nofile.value_or(static_cast<rlim_t>(lowest_free_fd()));
  const Item items[] = {
      {RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile},
      {RLIMIT_NPROC, "RLIMIT_NPROC", policy.nproc},
      {RLIMIT_CORE, "RLIMIT_CORE", policy.core},
      {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", policy.memlock},
      {RLIMIT_FSIZE, "RLIMIT_FSIZE", policy.fsize},
      {RLIMIT_AS, "RLIMIT_AS", policy.address_space},
  };
  for (const Item& item : items) {
    if (!item.value) continue;
    rlimit current{};
    if (getrlimit(item.resource, &current) != 0) {
      return errno_failure(std::string("getrlimit(") + item.name + ")");
    }
    // Never raise a limit (that needs CAP_SYS_RESOURCE and is not what a sandbox is for).
    rlimit wanted{*item.value, *item.value};
    if (current.rlim_max != RLIM_INFINITY && wanted.rlim_max > current.rlim_max) {
      wanted.rlim_max = current.rlim_max;
      wanted.rlim_cur = current.rlim_max;
    }
    if (setrlimit(item.resource, &wanted) != 0) {
      return errno_failure(std::string("setrlimit(") + item.name + ", " +
                           std::to_string(wanted.rlim_cur) + ")");
    }
  }
  return SandboxStatus::ok();
}

// ---- namespaces ----------------------------------------------------------------------------------

SandboxStatus enter_empty_netns() {
  if (unshare(CLONE_NEWNET) != 0) return errno_failure("unshare(CLONE_NEWNET)");
  return SandboxStatus::ok();
}

// ---- capabilities ----------------------------------------------------------------------------------

SandboxStatus drop_bounding_and_ambient() {
  // The ambient set may not exist on old kernels (EINVAL); then there is nothing to clear.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return errno_failure("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  // Walk capabilities until the kernel says the number is unknown, so caps newer than our
  // headers are dropped too.
  for (int cap = 0; cap < 64; ++cap) {
    const int in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in_set < 0) {
      if (errno == EINVAL) break;
      return errno_failure("prctl(PR_CAPBSET_READ, " + std::to_string(cap) + ")");
    }
    if (in_set == 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return errno_failure("prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")");
    }
  }
  return SandboxStatus::ok();
}

SandboxStatus drop_capabilities() {
  if (SandboxStatus s = drop_bounding_and_ambient(); !s) return s;
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &header, data) != 0) return errno_failure("capset(all sets empty)");
  // Read back: the kernel must agree that nothing is left.
  if (syscall(SYS_capget, &header, data) != 0) return errno_failure("capget(verify)");
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) {
      return SandboxStatus::failure(EPERM, "capget(verify): capabilities left after capset");
    }
  }
  return SandboxStatus::ok();
}

// ---- user ---------------------------------------------------------------------------------------------

std::optional<UserIds> resolve_user(const std::string& name) {
  passwd pw{};
  passwd* result = nullptr;
  std::string buf(16384, '\0');
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return std::nullopt;
  }
  return UserIds{pw.pw_uid, pw.pw_gid};
}

SandboxStatus switch_user(uid_t uid, gid_t gid) {
  const std::string who = "(" + std::to_string(uid) + ":" + std::to_string(gid) + ")";
  // Supplementary groups first: after the uid switch we could no longer drop them.
  if (setgroups(0, nullptr) != 0) return errno_failure("setgroups(empty) for " + who);
  if (setresgid(gid, gid, gid) != 0) return errno_failure("setresgid" + who);
  if (setresuid(uid, uid, uid) != 0) return errno_failure("setresuid" + who);
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (getresuid(&ru, &eu, &su) != 0) return errno_failure("getresuid(verify)");
  if (getresgid(&rg, &eg, &sg) != 0) return errno_failure("getresgid(verify)");
  if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
    return SandboxStatus::failure(EPERM, "switch_user" + who + ": ids did not all change");
  }
  // OpenSSH's paranoia: if root can be regained, the switch did not take.
  if (uid != 0 && setresuid(0, 0, 0) == 0) {
    return SandboxStatus::failure(EPERM, "switch_user" + who + ": could regain uid 0");
  }
  return SandboxStatus::ok();
}

SandboxStatus set_no_new_privs() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno_failure("prctl(PR_SET_NO_NEW_PRIVS)");
  return SandboxStatus::ok();
}

// ---- seccomp ------------------------------------------------------------------------------------------

namespace {

struct SeccompRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using SeccompContext = std::unique_ptr<void, SeccompRelease>;

uint32_t to_scmp_action(const SyscallRule& rule) {
  switch (rule.action) {
    case SyscallAction::kAllow:
      return SCMP_ACT_ALLOW;
    case SyscallAction::kErrno:
      return SCMP_ACT_ERRNO(static_cast<uint32_t>(rule.errnum));
    case SyscallAction::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case SyscallAction::kLog:
      return SCMP_ACT_LOG;
  }
  return SCMP_ACT_KILL_PROCESS;
}

scmp_compare to_scmp_op(ArgCondition::Op op) {
  switch (op) {
    case ArgCondition::Op::kEq:
      return SCMP_CMP_EQ;
    case ArgCondition::Op::kNe:
      return SCMP_CMP_NE;
    case ArgCondition::Op::kMaskedEq:
      return SCMP_CMP_MASKED_EQ;
    case ArgCondition::Op::kLt:
      return SCMP_CMP_LT;
    case ArgCondition::Op::kLe:
      return SCMP_CMP_LE;
    case ArgCondition::Op::kGt:
      return SCMP_CMP_GT;
    case ArgCondition::Op::kGe:
      return SCMP_CMP_GE;
  }
  return SCMP_CMP_EQ;
}

}  // namespace

SandboxStatus install_seccomp(const SyscallPolicy& policy) {
  const std::string what = "seccomp policy '" + policy.name + "'";
  SeccompContext ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return SandboxStatus::failure(ENOMEM, what + ": seccomp_init");
  // A syscall made through another ABI (int 0x80, x32) is not in our table: kill for it too.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0) {
    return SandboxStatus::failure(-rc, what + ": set bad-arch action");
  }
  if (policy.all_threads) {
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc < 0) {
      return SandboxStatus::failure(-rc, what + ": enable thread sync");
    }
  }
  std::vector<std::string_view> plain_allows;  // unconditional allows already added
  for (const SyscallRule& rule : policy.rules) {
    if (rule.action == SyscallAction::kAllow && rule.conditions.empty()) {
      // The same plain allow from two tables (the runtime's and a process's own) is one rule.
      if (std::find(plain_allows.begin(), plain_allows.end(), std::string_view(rule.name)) !=
          plain_allows.end())
        continue;
      plain_allows.emplace_back(rule.name);
    }
    const int nr = seccomp_syscall_resolve_name(rule.name);
    if (nr == __NR_SCMP_ERROR) {
      return SandboxStatus::failure(EINVAL, what + ": unknown syscall '" + rule.name + "'");
    }
    std::vector<scmp_arg_cmp> conds;
    conds.reserve(rule.conditions.size());
    for (const ArgCondition& c : rule.conditions) {
      scmp_arg_cmp cmp{};
      cmp.arg = c.index;
      cmp.op = to_scmp_op(c.op);
      if (c.op == ArgCondition::Op::kMaskedEq) {
        cmp.datum_a = c.mask;
        cmp.datum_b = c.value;
      } else {
        cmp.datum_a = c.value;
      }
      conds.push_back(cmp);
    }
    const int rc = seccomp_rule_add_array(ctx.get(), to_scmp_action(rule), nr,
                                          static_cast<unsigned>(conds.size()), conds.data());
    if (rc < 0) return SandboxStatus::failure(-rc, what + ": add rule for '" + rule.name + "'");
  }
  if (int rc = seccomp_load(ctx.get()); rc < 0) {
    return SandboxStatus::failure(-rc, what + ": seccomp_load");
  }
  return SandboxStatus::ok();
}

std::vector<SyscallRule> runtime_syscall_rules() {
  using A = SyscallAction;
  const auto no_exec = ArgCondition::masked_eq(2, PROT_EXEC, 0);
  const auto thread_only = ArgCondition::masked_eq(0, CLONE_THREAD, CLONE_THREAD);
  const auto self = ArgCondition::eq(0, static_cast<uint64_t>(getpid()));
  return {
      // name              action     why
      {"brk", A::kAllow, "malloc heap"},
      {"mmap", A::kAllow, "malloc / thread stacks; never executable (W^X)", {no_exec}},
      {"mprotect", A::kAllow, "malloc arenas, stack guard pages; never executable", {no_exec}},
      {"munmap", A::kAllow, "free"},
      {"mremap", A::kAllow, "realloc of large blocks"},
      {"madvise", A::kAllow, "free / malloc_trim give memory back"},
      {"futex", A::kAllow, "mutexes, condition variables, ring wake-ups"},
      {"clock_gettime", A::kAllow, "vDSO fallback"},
      {"clock_getres", A::kAllow, "std::chrono"},
      {"gettimeofday", A::kAllow, "vDSO fallback"},
      {"clock_nanosleep", A::kAllow, "idle waits, std::this_thread::sleep_for"},
      {"nanosleep", A::kAllow, "older sleep paths"},
      {"sched_yield", A::kAllow, "spin-then-yield waits"},
      {"sched_getaffinity", A::kAllow, "std::thread::hardware_concurrency"},
      {"getpid", A::kAllow, "logging, self-signals"},
      {"gettid", A::kAllow, "logging thread ids"},
      {"exit", A::kAllow, "thread exit"},
      {"exit_group", A::kAllow, "process exit"},
      {"restart_syscall", A::kAllow, "interrupted sleeps resume"},
      {"rt_sigreturn", A::kAllow, "return from a signal handler"},
      {"rt_sigprocmask", A::kAllow, "pthread_create, abort"},
      {"rt_sigaction", A::kAllow, "abort resets SIGABRT"},
      {"tgkill", A::kAllow, "abort()/raise() to ourselves only", {self}},
      {"clone", A::kAllow, "std::thread: threads only, never a new process", {thread_only}},
      {"clone3", A::kErrno, "flags are behind a pointer seccomp cannot read: ENOSYS makes glibc use clone", {}, ENOSYS},
      {"set_robust_list", A::kAllow, "new threads"},
      {"rseq", A::kAllow, "new threads (glibc registers rseq)"},
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
      // Only in ASan/UBSan/TSan builds (scripts/sanitizers.sh runs the whole pipeline sanitized):
      // what the sanitizer runtimes call on their own. Production builds never have these.
      {"pipe2", A::kAllow, "sanitizer: probes whether memory is readable through a pipe"},
      {"pipe", A::kAllow, "sanitizer: same, older path"},
      {"sigaltstack", A::kAllow, "sanitizer: alternate signal stack per thread"},
      {"prctl", A::kAllow, "sanitizer: thread and dumpable settings"},
      {"getrusage", A::kAllow, "sanitizer: statistics"},
      {"readlink", A::kAllow, "sanitizer: /proc/self/exe for reports"},
      {"readlinkat", A::kAllow, "sanitizer: same"},
      {"open", A::kAllow, "sanitizer: /proc/self/maps for reports"},
      {"openat", A::kAllow, "sanitizer: same"},
      {"fstat", A::kAllow, "sanitizer: reading /proc files"},
      {"newfstatat", A::kAllow, "sanitizer: same"},
      {"lseek", A::kAllow, "sanitizer: same"},
      {"getrlimit", A::kAllow, "sanitizer: stack size"},
      {"prlimit64", A::kAllow, "sanitizer: stack size"},
      {"sched_getparam", A::kAllow, "sanitizer: thread start"},
      {"getppid", A::kAllow, "sanitizer: reports"},
      {"ioctl", A::kAllow, "sanitizer: isatty(stderr) before a report"},
      {"fcntl", A::kAllow, "sanitizer: pipe flags when printing memory in a report"},
      {"uname", A::kAllow, "sanitizer: reports"},
#endif
  };
}

// ---- everything, in order ----------------------------------------------------------------------

SandboxStatus apply_sandbox(const SandboxPlan& plan) {
  if (plan.seccomp == nullptr) {
    return SandboxStatus::failure(EINVAL, "apply_sandbox: no seccomp policy given");
  }
  if (SandboxStatus s = set_rlimits(plan.rlimits); !s) return s;
  if (plan.enter_empty_netns) {
    if (SandboxStatus s = enter_empty_netns(); !s) return s;
  }
  if (plan.drop_capabilities) {
    if (SandboxStatus s = drop_bounding_and_ambient(); !s) return s;
  }
  if (plan.user) {
    if (SandboxStatus s = switch_user(plan.user->uid, plan.user->gid); !s) return s;
  }
  if (plan.drop_capabilities) {
    if (SandboxStatus s = drop_capabilities(); !s) return s;
  }
  if (SandboxStatus s = set_no_new_privs(); !s) return s;
  return install_seccomp(*plan.seccomp);
}

}  // namespace ringward::sandbox
