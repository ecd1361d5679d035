// The processor's seccomp allowlist, one table. The processor parses attacker-controlled bytes, so
// it must be harmless when compromised: no files, no sockets, no processes, no executable memory.
// What it does after the filter: read records from the already-mapped "raw" ring, write to the
// already-mapped "out" ring, wait/wake on futex words (or read/write an inherited eventfd), log to
// stderr (spdlog: log once before the filter so /etc/localtime is already loaded), read its RSS
// through a /proc/self/statm fd opened before the filter (pread), run std::thread workers.
// Trust: built and installed while the processor is still trusted.
#include "processor/stages/seccomp_policy.h"

#include <poll.h>

namespace ringward::processor {

sandbox::SyscallPolicy processor_seccomp_policy() {
  using A = sandbox::SyscallAction;
  sandbox::SyscallPolicy policy;
  policy.name = "processor";
  // Memory, futex, clocks, exit, signal return and thread creation (CLONE_THREAD only).
  policy.rules = sandbox::runtime_syscall_rules();
  const sandbox::SyscallRule own[] = {
      // name          action     why
      {"read", A::kAllow, "inherited eventfd / pipe wake-ups (no new fds can exist)"},
      {"write", A::kAllow, "stderr logging, eventfd wake-ups of the shipper"},
      {"pread64", A::kAllow, "RSS from the /proc/self/statm fd opened before the filter"},
      {"ppoll", A::kAllow, "waiting on an inherited eventfd with a timeout"},
      {"poll", A::kAllow, "same, older glibc paths"},
      {"close", A::kAllow, "RAII destructors at shutdown"},
      {"getrusage", A::kAllow, "self statistics (CPU time)"},
      // Deliberately absent (default: kill): open/openat/openat2/creat, socket/connect/bind,
      // execve/execveat, fork/vfork, clone without CLONE_THREAD, ptrace, process_vm_*, kill,
      // mount/unshare/setns, bpf, perf_event_open, prctl, seccomp, io_uring_*, newfstatat.
  };
  for (const auto& rule : own) policy.rules.push_back(rule);
  return policy;
}

}  // namespace ringward::processor
