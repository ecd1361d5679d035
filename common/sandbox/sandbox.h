// Process sandbox: the small set of one-way steps a ringward process takes to give up what it does
// not need before it reads its first untrusted byte (OpenSSH privsep / Chromium style).
//
// Trust: runs in every process (capture, processor, shipper) while still trusted; after
// apply_sandbox() returns the process may be compromised without gaining anything new.
//
// Fixed order (apply_sandbox() enforces it; each step is also callable alone for tests):
//   1. set_rlimits        – no new fds, no new processes, no core dumps
//   2. enter_empty_netns  – while CAP_SYS_ADMIN is still held (optional; the supervisor may do it)
//   3. drop_bounding_and_ambient – needs CAP_SETPCAP, so before the uid switch
//   4. switch_user        – setgroups, setresgid, setresuid (optional)
//   5. drop_capabilities  – clears effective/permitted/inheritable (and anything left)
//   6. set_no_new_privs
//   7. install_seccomp    – allowlist, default action: kill the process
// Errors are values: a SandboxStatus carries errno and what was being done.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ringward::sandbox {

class [[nodiscard]] SandboxStatus {
 public:
  static SandboxStatus ok() { return SandboxStatus(); }
  static SandboxStatus failure(int errnum, std::string doing) {
    SandboxStatus s;
    s.errnum_ = errnum;
    s.doing_ = std::move(doing);
    s.failed_ = true;
    return s;
  }
  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return is_ok(); }
  int errnum() const { return errnum_; }
  const std::string& doing() const { return doing_; }
  // "setresuid(65534): Operation not permitted (EPERM)"
  std::string describe() const;

 private:
  SandboxStatus() = default;
  int errnum_ = 0;
  std::string doing_;
  bool failed_ = false;
};

// ---- 1. Resource limits ----------------------------------------------------------------------
struct RlimitPolicy {
  // RLIMIT_NOFILE. Unset: the lowest fd number not open now, so no new fd can be allocated at
  // all while every fd already open (rings, eventfds, /proc/self/statm) keeps working.
  std::optional<rlim_t> nofile;
  // RLIMIT_NPROC 0: no fork. NOTE it also stops new threads for a non-root uid (threads are
  // tasks), so create worker threads before the sandbox or set this to what you need.
  std::optional<rlim_t> nproc = 0;
  std::optional<rlim_t> core = 0;     // a dump of the processor would hold captured payloads
  std::optional<rlim_t> memlock = 0;  // nothing of ours locks memory
  std::optional<rlim_t> fsize;        // unset: stderr may be a regular file (SIGXFSZ otherwise)
  std::optional<rlim_t> address_space;  // RLIMIT_AS, unset by default (the ResourceMonitor sheds)
};
// Sets soft and hard limit of every set field (hard too, so they cannot be raised back).
SandboxStatus set_rlimits(const RlimitPolicy& policy);
// Lowest fd number that is not open (what RlimitPolicy::nofile defaults to).
int lowest_free_fd();

// ---- 2. Network namespace ----------------------------------------------------------------------
// unshare(CLONE_NEWNET): the new namespace has only a down loopback. Needs CAP_SYS_ADMIN.
SandboxStatus enter_empty_netns();

// ---- 3/5. Capabilities --------------------------------------------------------------------------
// Clears the bounding set (needs CAP_SETPCAP unless it is already empty) and the ambient set.
SandboxStatus drop_bounding_and_ambient();
// Drops every capability: bounding and ambient (when still possible), then inheritable,
// permitted and effective via capset(2). Does not need libcap.
SandboxStatus drop_capabilities();

// ---- 4. User switch -------------------------------------------------------------------------------
struct UserIds {
  uid_t uid;
  gid_t gid;
};
// Looks a user up with getpwnam_r (reads /etc/passwd via NSS: call before the sandbox).
std::optional<UserIds> resolve_user(const std::string& name);
// setgroups({}), setresgid(g,g,g), setresuid(u,u,u), then verifies that all ids changed and that
// regaining root fails.
SandboxStatus switch_user(uid_t uid, gid_t gid);

// ---- 6. no_new_privs -------------------------------------------------------------------------------
SandboxStatus set_no_new_privs();

// ---- 7. Seccomp ----------------------------------------------------------------------------------
enum class SyscallAction : uint8_t {
  kAllow,
  kErrno,  // fail with SyscallRule::errnum (e.g. ENOSYS for clone3 so glibc falls back to clone)
  kKillProcess,
  kLog,  // allow and log to the audit log (for discovering a policy, never in production)
};

// One argument condition (libseccomp semantics): arg[index] <op> value (masked_eq uses mask).
struct ArgCondition {
  enum class Op : uint8_t { kEq, kNe, kMaskedEq, kLt, kLe, kGt, kGe };
  unsigned index = 0;
  Op op = Op::kEq;
  uint64_t value = 0;
  uint64_t mask = 0;  // only for kMaskedEq: (arg & mask) == value

  static ArgCondition eq(unsigned i, uint64_t v) { return {i, Op::kEq, v, 0}; }
  static ArgCondition masked_eq(unsigned i, uint64_t mask, uint64_t v) {
    return {i, Op::kMaskedEq, v, mask};
  }
};

struct SyscallRule {
  const char* name;  // resolved with seccomp_syscall_resolve_name (native arch)
  SyscallAction action = SyscallAction::kAllow;
  const char* why = "";
  std::vector<ArgCondition> conditions = {};  // all must hold (AND); none: unconditional
  int errnum = 0;                             // for kErrno
};

// The whole policy as one readable table. A syscall may appear in several rows only with
// conditions (libseccomp ORs rows of the same syscall).
struct SyscallPolicy {
  std::string name;  // for error messages: "processor"
  std::vector<SyscallRule> rules;
  // Apply the filter to every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
  bool all_threads = true;
};

// Builds the filter with libseccomp (default action: kill the process) and loads it. Requires
// no_new_privs (or CAP_SYS_ADMIN). Unknown syscall names are an error, not silently skipped.
SandboxStatus install_seccomp(const SyscallPolicy& policy);

// Rows every multi-threaded C++ process of ours needs (malloc, futex, clocks, exit, signal
// return, std::thread creation limited to CLONE_THREAD); a process's own table appends to these.
std::vector<SyscallRule> runtime_syscall_rules();

// ---- All of it, in order ---------------------------------------------------------------------------
struct SandboxPlan {
  RlimitPolicy rlimits;
  bool enter_empty_netns = false;
  std::optional<UserIds> user;  // switch to this user when set
  bool drop_capabilities = true;
  const SyscallPolicy* seccomp = nullptr;  // required: apply_sandbox refuses to run without one
};
// Applies the plan in the fixed order above; stops at the first failure (the caller must then
// exit: a half-applied sandbox is not a state to process untrusted input in).
SandboxStatus apply_sandbox(const SandboxPlan& plan);

}  // namespace ringward::sandbox
