// POSIX file helpers for the shipper's own directories. Trust: shipper process.
#include "shipper/core/io_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace ringward::shipper::io {

IoError IoError::from_errno(int e, std::string_view doing) {
  IoError r;
  r.err = e;
  r.what = std::string(doing) + ": " + std::strerror(e);
  return r;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

IoError open_file(const std::filesystem::path& p, int flags, int mode, Fd& out) {
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return IoError::from_errno(errno, "open " + p.string());
  out.reset(fd);
  return {};
}

IoError write_all(int fd, const void* data, size_t len, size_t* written) {
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, p + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (written) *written = done;
      return IoError::from_errno(errno, "write");
    }
    done += static_cast<size_t>(n);
  }
  if (written) *written = done;
  return {};
}

IoError pread_full(int fd, void* data, size_t len, uint64_t offset, size_t& got) {
  char* p = static_cast<char*>(data);
  got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, p + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError::from_errno(errno, "pread");
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return {};
}

IoError fsync_fd(int fd, std::string_view what) {
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return IoError::from_errno(errno, std::string("fsync ") + std::string(what));
  return {};
}

IoError fsync_dir(const std::filesystem::path& dir) {
  Fd fd;
  if (auto e = open_file(dir, O_RDONLY | O_DIRECTORY, 0, fd); !e.ok()) return e;
  return fsync_fd(fd.get(), dir.string());
}

IoError write_file_atomic(const std::filesystem::path& p, std::string_view contents) {
  auto tmp = p;
  tmp += ".tmp";
  {
    Fd fd;
    if (auto e = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600, fd); !e.ok()) return e;
    if (auto e = write_all(fd.get(), contents.data(), contents.size()); !e.ok()) {
      ::unlink(tmp.c_str());
      return IoError::from_errno(e.err, "write " + tmp.string());
    }
    if (auto e = fsync_fd(fd.get(), tmp.string()); !e.ok()) {
      ::unlink(tmp.c_str());
      return e;
    }
  }
  if (::rename(tmp.c_str(), p.c_str()) < 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return IoError::from_errno(e, "rename " + tmp.string() + " -> " + p.string());
  }
  return fsync_dir(p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path());
}

IoError read_file(const std::filesystem::path& p, std::string& out, size_t max_bytes) {
  Fd fd;
  if (auto e = open_file(p, O_RDONLY, 0, fd); !e.ok()) return e;
  out.clear();
  char buf[4096];
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError::from_errno(errno, "read " + p.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (out.size() > max_bytes) out.resize(max_bytes);
  return {};
}

IoError make_dirs(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::create_directories(p, ec);
  if (ec) return IoError::from_errno(ec.value(), "create directory " + p.string());
  return {};
}

}  // namespace ringward::shipper::io
