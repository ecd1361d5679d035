// Small POSIX file helpers for the shipper's buffer and DLQ directories: an owning fd, EINTR-safe
// whole writes/reads, atomic file replacement (tmp + fsync + rename + fsync dir). Every failure is
// a value carrying errno and what was being done. Trust: shipper process, its own files only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace ringward::shipper::io {

// An expected I/O failure: errno (0 when not errno-based) and a message naming the operation.
struct IoError {
  int err = 0;
  std::string what;
  bool ok() const { return what.empty(); }
  static IoError none() { return {}; }
  static IoError from_errno(int e, std::string_view doing);
};

// Owns one file descriptor; closes it on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

IoError open_file(const std::filesystem::path& p, int flags, int mode, Fd& out);
// Writes all bytes at the current offset; on failure `written` tells how far it got.
IoError write_all(int fd, const void* data, size_t len, size_t* written = nullptr);
// Reads up to len bytes at offset; `got` < len only at end of file.
IoError pread_full(int fd, void* data, size_t len, uint64_t offset, size_t& got);
IoError fsync_fd(int fd, std::string_view what);
IoError fsync_dir(const std::filesystem::path& dir);
// Replaces `p` with `contents` so a crash leaves either the old or the new file, never a torn one.
IoError write_file_atomic(const std::filesystem::path& p, std::string_view contents);
// Reads a whole (small) file; missing file is an error with err == ENOENT.
IoError read_file(const std::filesystem::path& p, std::string& out, size_t max_bytes);
IoError make_dirs(const std::filesystem::path& p);

}  // namespace ringward::shipper::io
