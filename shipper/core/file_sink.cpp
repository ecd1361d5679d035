// FileSink implementation. Trust: shipper process.
#include "shipper/core/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <kj/exception.h>

#include "common/event_codec.h"
#include "common/event_json.h"

namespace ringward::shipper {

FileSink::FileSink(FileSinkOptions o) : o_(std::move(o)), name_("file:" + o_.path.string()) {
  o_.max_file_bytes = std::max<uint64_t>(o_.max_file_bytes, 4096);
}

std::unique_ptr<FileSink> FileSink::open(FileSinkOptions o, io::IoError& err) {
  std::unique_ptr<FileSink> s(new FileSink(std::move(o)));
  if (s->o_.path.has_parent_path()) {
    err = io::make_dirs(s->o_.path.parent_path());
    if (!err.ok()) return nullptr;
  }
  err = s->open_current();
  if (!err.ok()) return nullptr;
  err = s->repair_and_scan();
  if (!err.ok()) return nullptr;
  return s;
}

io::IoError FileSink::repair_and_scan() {
  if (size_ == 0) return {};
  // The last 256 KiB hold the last line of each origin in practice.
  const uint64_t from = size_ > (256u << 10) ? size_ - (256u << 10) : 0;
  std::string buf(size_ - from, '\0');
  size_t got = 0;
  io::Fd rd;
  if (auto e = io::open_file(o_.path, O_RDONLY, 0, rd); !e.ok()) return e;
  if (auto e = io::pread_full(rd.get(), buf.data(), buf.size(), from, got); !e.ok()) return e;
  buf.resize(got);
  size_t end = buf.rfind('\n');
  size_t keep = end == std::string::npos ? 0 : end + 1;
  if (keep < buf.size()) {
    if (::ftruncate(fd_.get(), static_cast<off_t>(from + keep)) < 0)
      return io::IoError::from_errno(errno, "cut torn last line of " + o_.path.string());
    repaired_bytes_ = buf.size() - keep;
    size_ = from + keep;
    buf.resize(keep);
  }
  // Lines start with {"id":"<decimal>" (common/event_json.h): walk back to the last of each origin.
  constexpr std::string_view kPrefix = "{\"id\":\"";
  size_t pos = buf.size();
  int found = 0;
  while (pos > 0 && found < 2) {
    size_t nl = pos >= 2 ? buf.rfind('\n', pos - 2) : std::string::npos;
    size_t start = nl == std::string::npos ? 0 : nl + 1;
    std::string_view line(buf.data() + start, pos - start);
    if (line.substr(0, kPrefix.size()) == kPrefix) {
      uint64_t id = 0;
      for (size_t i = kPrefix.size(); i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i)
        id = id * 10 + static_cast<uint64_t>(line[i] - '0');
      int origin = static_cast<int>(id >> 63);
      if (skip_through_[origin] == 0) {
        skip_through_[origin] = skip_through_open_[origin] = id;
        ++found;
      }
    }
    if (start == 0) break;
    pos = start;
  }
  return {};
}

io::IoError FileSink::open_current() {
  if (auto e = io::open_file(o_.path, O_WRONLY | O_CREAT | O_APPEND, 0640, fd_); !e.ok()) return e;
  struct stat st {};
  if (::fstat(fd_.get(), &st) < 0) return io::IoError::from_errno(errno, "stat " + o_.path.string());
  size_ = static_cast<uint64_t>(st.st_size);
  return {};
}

io::IoError FileSink::rotate() {
  fd_.reset();
  auto numbered = [&](size_t i) {
    auto p = o_.path;
    p += "." + std::to_string(i);
    return p;
  };
  if (o_.max_files == 0) {
    if (::unlink(o_.path.c_str()) < 0 && errno != ENOENT)
      return io::IoError::from_errno(errno, "remove " + o_.path.string());
  } else {
    ::unlink(numbered(o_.max_files).c_str());  // the oldest leaves (ENOENT is fine)
    for (size_t i = o_.max_files; i > 1; --i) ::rename(numbered(i - 1).c_str(), numbered(i).c_str());
    if (::rename(o_.path.c_str(), numbered(1).c_str()) < 0 && errno != ENOENT)
      return io::IoError::from_errno(errno, "rotate " + o_.path.string());
  }
  rotations_++;
  return open_current();
}

SendResult FileSink::send(std::span<const OutEvent> batch) {
  SendResult r;
  std::string& out = out_;  // kept for its capacity: a batch renders into the same buffer
  out.clear();
  EventDecoder dec;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int origin = static_cast<int>(batch[i].id >> 63);
    if (skip_through_[origin]) {
      if (batch[i].id <= skip_through_[origin]) {
        r.duplicates++;  // written before a crash; replayed from the buffer
        continue;
      }
      skip_through_[origin] = 0;  // past the replay: later (e.g. DLQ) events are written
    }
    const auto& rec = batch[i].record;
    auto ev = dec.decode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rec.data()), rec.size()));
    if (!ev) {
      r.rejected.push_back({i, 0, "undecodable event record: " + dec.error()});
      continue;
    }
    // Rendering traverses the whole message: a hostile record can fail deep inside (Cap'n Proto
    // throws kj::Exception). Such an event is refused to the DLQ, the rest of the batch goes on.
    const size_t mark = out.size();
    try {
      if (!append_event_json(*ev, out)) {
        r.rejected.push_back({i, 0, "event cannot be rendered: malformed record"});
        continue;
      }
      out += '\n';
    } catch (const kj::Exception& e) {
      out.resize(mark);
      r.rejected.push_back({i, 0, "event cannot be rendered: " + std::string(e.getDescription().cStr())});
    } catch (const std::exception& e) {
      out.resize(mark);
      r.rejected.push_back({i, 0, std::string("event cannot be rendered: ") + e.what()});
    }
  }
  if (!fd_.valid()) {
    if (auto e = open_current(); !e.ok()) {
      r.status = SendStatus::retry;
      r.detail = e.what;
      return r;
    }
  }
  if (size_ > 0 && size_ + out.size() > o_.max_file_bytes) {
    if (auto e = rotate(); !e.ok()) {
      r.status = SendStatus::retry;
      r.detail = e.what;
      return r;
    }
  }
  size_t written = 0;
  auto e = io::write_all(fd_.get(), out.data(), out.size(), &written);
  if (e.ok() && o_.fsync && ::fdatasync(fd_.get()) < 0) e = io::IoError::from_errno(errno, "fdatasync");
  if (!e.ok()) {
    // Cut what was written of this batch: the retry writes it whole (no half lines).
    if (written > 0 && ::ftruncate(fd_.get(), static_cast<off_t>(size_)) < 0) fd_.reset();
    r.status = SendStatus::retry;
    r.detail = "file sink " + o_.path.string() + ": " + e.what;
    return r;
  }
  size_ += out.size();
  return r;
}

}  // namespace ringward::shipper
