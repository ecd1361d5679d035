// Kernel audit log reader for seccomp kills (see seccomp_audit.h). Trust: supervisor.
#include "supervisor/seccomp_audit.h"

#include <fcntl.h>
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace ringward::supervisor {
namespace {

// Value of " key=" in an audit line (up to the next space); empty when absent.
std::string_view field(std::string_view line, std::string_view key) {
  size_t at = 0;
  while ((at = line.find(key, at)) != std::string_view::npos) {
    if ((at == 0 || line[at - 1] == ' ') && at + key.size() < line.size() && line[at + key.size()] == '=') {
      size_t b = at + key.size() + 1;
      size_t e = line.find(' ', b);
      return line.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    }
    at += key.size();
  }
  return {};
}

bool to_long(std::string_view s, int base, long& out) {
  if (s.empty() || s.size() > 20) return false;
  std::string t(s);
  char* end = nullptr;
  errno = 0;
  out = std::strtol(t.c_str(), &end, base);
  return errno == 0 && end == t.c_str() + t.size();
}

}  // namespace

std::optional<SeccompRecord> parse_seccomp_audit(std::string_view line) {
  if (field(line, "type") != "1326") return std::nullopt;
  SeccompRecord r;
  long pid = 0, nr = 0, arch = 0;
  if (!to_long(field(line, "pid"), 10, pid) || !to_long(field(line, "syscall"), 10, nr) ||
      !to_long(field(line, "arch"), 16, arch) || pid <= 0 || nr < 0)
    return std::nullopt;
  r.pid = static_cast<pid_t>(pid);
  r.syscall = nr;
  r.arch = static_cast<uint32_t>(arch);
  r.syscall_name = resolve_syscall_name(r.arch, nr);
  return r;
}

std::string resolve_syscall_name(uint32_t arch, long nr) {
  // libseccomp arch tokens are the kernel's AUDIT_ARCH_* values, which the audit record carries.
  if (char* name = seccomp_syscall_resolve_num_arch(arch, static_cast<int>(nr))) {
    std::string s = name;
    free(name);
    return s;
  }
  return fmt::format("syscall {} (arch 0x{:x})", nr, arch);
}

KmsgSeccompReader::KmsgSeccompReader(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    open_error_ = fmt::format("open {}: {}", path, strerror(errno));
    return;
  }
  lseek(fd_, 0, SEEK_END);
}

KmsgSeccompReader::~KmsgSeccompReader() {
  if (fd_ >= 0) ::close(fd_);
}

void KmsgSeccompReader::drain() {
  if (fd_ < 0) return;
  char buf[8192];
  // Bounded: at most this many records per call, so a flood of kernel messages cannot stall the
  // supervisor's loop.
  for (int i = 0; i < 4096; ++i) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) continue;  // the ring overwrote records we had not read: go on
      return;                        // EAGAIN: nothing more
    }
    if (n == 0) return;
    std::string_view rec(buf, static_cast<size_t>(n));
    // /dev/kmsg records: "prio,seq,usec,flags;message\n"
    if (auto semi = rec.find(';'); semi != std::string_view::npos) rec.remove_prefix(semi + 1);
    if (auto nl = rec.find('\n'); nl != std::string_view::npos) rec = rec.substr(0, nl);
    if (auto r = parse_seccomp_audit(rec)) {
      recent_.push_back(std::move(*r));
      if (recent_.size() > 64) recent_.pop_front();
    }
  }
}

std::optional<SeccompRecord> KmsgSeccompReader::find(pid_t pid, int wait_ms) {
  for (int waited = 0;; waited += 20) {
    drain();
    for (auto it = recent_.begin(); it != recent_.end(); ++it)
      if (it->pid == pid) {
        SeccompRecord r = *it;
        recent_.erase(it);
        return r;
      }
    if (fd_ < 0 || waited >= wait_ms) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace ringward::supervisor
