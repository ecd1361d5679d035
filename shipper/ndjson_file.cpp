#include "shipper/ndjson_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace ringward::shipper {

NdjsonFile::NdjsonFile(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0)
    throw std::runtime_error(fmt::format("open sink file '{}': {}", path_, strerror(errno)));
  scan_tail();
}

NdjsonFile::~NdjsonFile() {
  if (fd_ >= 0) ::close(fd_);
}

void NdjsonFile::scan_tail() {
  struct stat st {};
  if (fstat(fd_, &st) != 0 || st.st_size == 0) return;
  // Read the last 256 KiB: enough to hold the last line of each origin in practice.
  off_t size = st.st_size;
  off_t from = size > (256 << 10) ? size - (256 << 10) : 0;
  std::string buf(static_cast<size_t>(size - from), '\0');
  ssize_t got = pread(fd_, buf.data(), buf.size(), from);
  if (got < 0) throw std::runtime_error(fmt::format("read sink file '{}': {}", path_, strerror(errno)));
  buf.resize(static_cast<size_t>(got));
  size_t end = buf.rfind('\n');
  size_t keep = end == std::string::npos ? 0 : end + 1;
  if (keep < buf.size()) {
    // A torn last line: cut it; the record will be written again from the ring.
    if (ftruncate(fd_, from + static_cast<off_t>(keep)) != 0)
      throw std::runtime_error(fmt::format("truncate torn line in '{}': {}", path_, strerror(errno)));
    repaired_bytes_ = buf.size() - keep;
    buf.resize(keep);
  }
  // Walk lines backwards; each starts with {"id":"<decimal>".
  size_t pos = buf.size();
  int found = 0;
  while (pos > 0 && found < 2) {
    size_t start = buf.rfind('\n', pos - 2 < buf.size() ? pos - 2 : 0);
    start = (start == std::string::npos || pos < 2) ? 0 : start + 1;
    std::string_view line(buf.data() + start, pos - start);
    constexpr std::string_view kPrefix = "{\"id\":\"";
    if (line.substr(0, kPrefix.size()) == kPrefix) {
      uint64_t id = 0;
      size_t i = kPrefix.size();
      while (i < line.size() && line[i] >= '0' && line[i] <= '9') id = id * 10 + (line[i++] - '0');
      int origin = static_cast<int>(id >> 63);
      if (last_ids_[origin] == 0) {
        last_ids_[origin] = id;
        ++found;
      }
    }
    if (start == 0) break;
    pos = start;
  }
}

void NdjsonFile::append(const std::string& lines) {
  size_t done = 0;
  while (done < lines.size()) {
    ssize_t n = ::write(fd_, lines.data() + done, lines.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("write sink file '{}': {}", path_, strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
}

void NdjsonFile::sync() { ::fdatasync(fd_); }

}  // namespace ringward::shipper
