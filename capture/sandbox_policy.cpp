#include "capture/sandbox_policy.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>

#include <spdlog/spdlog.h>

namespace ringward::capture {

sandbox::SyscallPolicy capture_seccomp_policy() {
  using A = sandbox::SyscallAction;
  sandbox::SyscallPolicy policy;
  policy.name = "capture";
  // Memory, futex, clocks, exit, signal return, threads (CLONE_THREAD only).
  policy.rules = sandbox::runtime_syscall_rules();
  const sandbox::SyscallRule own[] = {
      // name             action     why
      {"read", A::kAllow, "ring-buffer / pipe fds held from before the drop"},
      {"write", A::kAllow, "stderr logging"},
      {"close", A::kAllow, "RAII destructors at shutdown"},
      // libbpf detaches a perf-event link (classic tracepoint, uprobe) with this ioctl before
      // closing it; nothing else may be asked of any fd.
      {"ioctl", A::kAllow, "PERF_EVENT_IOC_DISABLE when the links are destroyed at shutdown",
       {sandbox::ArgCondition::masked_eq(1, 0xffffffffULL, PERF_EVENT_IOC_DISABLE)}},
      {"getpid", A::kAllow, "stats page heartbeat"},
      {"gettid", A::kAllow, "spdlog"},
      // Deliberately absent (default: kill): epoll/poll (the kernel ring is consumed from its
      // mapping, ring_buffer__consume, never polled), bpf (no new maps or programs after the drop),
      // open/openat, socket, execve, fork, ptrace, perf_event_open, mount, unshare, setns, kill.
  };
  for (const auto& r : own) policy.rules.push_back(r);
  return policy;
}

std::string enter_capture_sandbox() {
  spdlog::info("programs attached: dropping every capability, no_new_privs, seccomp allowlist");
  static const sandbox::SyscallPolicy policy = capture_seccomp_policy();
  sandbox::SandboxPlan plan;
  plan.rlimits.nproc.reset();  // root's NPROC limit is meaningless; forks are blocked by seccomp
  plan.seccomp = &policy;
  auto st = sandbox::apply_sandbox(plan);
  return st ? std::string() : st.describe();
}

}  // namespace ringward::capture
