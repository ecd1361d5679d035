// Names the syscall that made seccomp kill a child. A process killed by SECCOMP_RET_KILL_PROCESS
// cannot report anything itself, but the kernel logs an audit record (type=1326, "SECCOMP") with
// the pid, the audit arch and the syscall number; without auditd it goes to the kernel log, which
// this reader follows on /dev/kmsg. The number is resolved for that arch with libseccomp.
// Trust: supervisor (root). Kernel log lines from other processes are parsed defensively; only
// records of type=1326 are used and only for a pid we supervise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace ringward::supervisor {

struct SeccompRecord {
  pid_t pid = 0;
  uint32_t arch = 0;
  long syscall = -1;
  std::string syscall_name;  // resolved, or "syscall <n>"
};

// Parses one kernel log line; nullopt unless it is a SECCOMP audit record.
std::optional<SeccompRecord> parse_seccomp_audit(std::string_view line);
// "socket" for (AUDIT_ARCH_X86_64, 41); "syscall 41 (arch 0x...)" when unknown.
std::string resolve_syscall_name(uint32_t arch, long nr);

class KmsgSeccompReader {
 public:
  // Opens /dev/kmsg (or `path`) and skips the backlog: only records after now are of interest.
  explicit KmsgSeccompReader(const std::string& path = "/dev/kmsg");
  ~KmsgSeccompReader();
  KmsgSeccompReader(const KmsgSeccompReader&) = delete;
  KmsgSeccompReader& operator=(const KmsgSeccompReader&) = delete;

  bool available() const { return fd_ >= 0; }
  const std::string& open_error() const { return open_error_; }
  // Reads what the kernel logged since the last call and returns the record for `pid`, retrying
  // for up to `wait_ms` (the record is normally there before the parent sees SIGCHLD).
  std::optional<SeccompRecord> find(pid_t pid, int wait_ms);

 private:
  void drain();
  int fd_ = -1;
  std::string open_error_;
  std::deque<SeccompRecord> recent_;  // bounded: records seen but not asked for yet
};

}  // namespace ringward::supervisor
