// DeadLetterQueue implementation. Trust: shipper process.
#include "shipper/core/dead_letter_queue.h"

#include <unistd.h>

#include <cinttypes>
#include <cstring>

#include "shipper/core/record.h"

namespace ringward::shipper {

namespace fs = std::filesystem;

namespace {
constexpr uint32_t kDlqMagic = 0x51445752;  // "RWDQ"
constexpr size_t kMaxMeta = 8192;
constexpr uint8_t kFlagDeadLetter = 1;

template <typename T>
void put_raw(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool get_raw(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}
bool get_str(std::string_view& in, std::string& s) {
  uint16_t n = 0;
  if (!get_raw(in, n) || in.size() < n) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}
}  // namespace

DeadLetterQueue::DeadLetterQueue(fs::path dir, uint64_t max_bytes, const Clock& clock)
    : dir_(std::move(dir)), max_bytes_(max_bytes), clock_(clock) {}

std::unique_ptr<DeadLetterQueue> DeadLetterQueue::open(fs::path dir, uint64_t max_bytes,
                                                       const Clock& clock, io::IoError& err) {
  std::unique_ptr<DeadLetterQueue> q(new DeadLetterQueue(std::move(dir), max_bytes, clock));
  err = io::make_dirs(q->dir_);
  if (!err.ok()) return nullptr;
  std::lock_guard lk(q->mu_);
  q->rescan_locked();
  return q;
}

void DeadLetterQueue::rescan_locked() {
  sizes_.clear();
  bytes_ = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.ends_with(".tmp")) {
      fs::remove(it->path(), ec);
      ec.clear();
      continue;
    }
    if (!n.starts_with("dlq-") || !n.ends_with(".rwd")) continue;
    uint64_t sz = it->file_size(ec);
    if (ec) {
      ec.clear();
      sz = 0;
    }
    sizes_[n] = sz;
    bytes_ += sz;
  }
  if (ec) st_.last_error = "list " + dir_.string() + ": " + ec.message();
}

bool DeadLetterQueue::put(std::string_view sink, int status, std::string_view reason,
                          const OutEvent& ev) {
  const uint64_t now = clock_.wall_ns();
  std::string meta;
  put_raw<int32_t>(meta, status);
  put_raw<uint64_t>(meta, now);
  put_raw<uint16_t>(meta, static_cast<uint16_t>(std::min<size_t>(sink.size(), 1024)));
  meta.append(sink.substr(0, 1024));
  put_raw<uint16_t>(meta, static_cast<uint16_t>(std::min<size_t>(reason.size(), 4096)));
  meta.append(reason.substr(0, 4096));
  std::string file;
  put_raw<uint32_t>(file, kDlqMagic);
  put_raw<uint32_t>(file, static_cast<uint32_t>(meta.size()));
  file += meta;
  put_raw<uint32_t>(file, record::crc32(0, meta.data(), meta.size()));
  record::Header h;
  h.event_id = ev.id;
  h.wall_ns = ev.wall_ns;
  h.priority = static_cast<uint8_t>(ev.priority);
  h.flags = kFlagDeadLetter;
  record::encode(h, ev.record, file);

  std::lock_guard lk(mu_);
  evict_locked(file.size());
  char name[64];
  do {  // the counter keeps names unique when the clock does not move (or moved back)
    std::snprintf(name, sizeof name, "dlq-%020" PRIu64 "-%08" PRIu64 ".rwd", now,
                  counter_++ % 100000000);
  } while (sizes_.count(name));
  if (auto e = io::write_file_atomic(dir_ / name, file); !e.ok()) {
    st_.write_errors++;
    st_.last_error = e.what;
    return false;
  }
  sizes_[name] = file.size();
  bytes_ += file.size();
  st_.written++;
  return true;
}

void DeadLetterQueue::evict_locked(uint64_t incoming) {
  while (!sizes_.empty() && bytes_ + incoming > max_bytes_) {
    auto it = sizes_.begin();
    if (::unlink((dir_ / it->first).c_str()) < 0 && errno != ENOENT) {
      st_.last_error = "delete " + it->first + ": " + std::strerror(errno);
      break;
    }
    bytes_ -= std::min(bytes_, it->second);
    sizes_.erase(it);
    st_.evicted++;
  }
}

bool DeadLetterQueue::load_entry(const fs::path& p, DlqEntryInfo& info, OutEvent* ev) const {
  info.key = p.filename().string();
  std::string data;
  if (!io::read_file(p, data, 32u << 20).ok()) {
    info.corrupt = true;
    return false;
  }
  info.bytes = data.size();
  std::string_view in(data);
  uint32_t magic = 0, meta_len = 0, crc = 0;
  if (!get_raw(in, magic) || magic != kDlqMagic || !get_raw(in, meta_len) || meta_len > kMaxMeta ||
      in.size() < meta_len + 4u) {
    info.corrupt = true;
    return false;
  }
  std::string_view meta = in.substr(0, meta_len);
  in.remove_prefix(meta_len);
  get_raw(in, crc);
  int32_t status = 0;
  if (crc != record::crc32(0, meta.data(), meta.size()) || !get_raw(meta, status) ||
      !get_raw(meta, info.dead_wall_ns) || !get_str(meta, info.sink) || !get_str(meta, info.reason)) {
    info.corrupt = true;
    return false;
  }
  info.status = status;
  record::Parsed rec;
  if (record::parse(in.data(), in.size(), rec) != record::ParseError::none) {
    info.corrupt = true;
    return false;
  }
  info.event_id = rec.header.event_id;
  info.priority = static_cast<schema::Priority>(std::min<uint8_t>(rec.header.priority, 3));
  if (ev) {
    ev->id = rec.header.event_id;
    ev->wall_ns = rec.header.wall_ns;
    ev->priority = info.priority;
    ev->record.assign(rec.payload);
  }
  return true;
}

bool DeadLetterQueue::matches(const DlqEntryInfo& e, const Filter& f) const {
  if (f.key && e.key != *f.key) return false;
  if (f.sink && e.sink != *f.sink) return false;
  return true;
}

std::vector<DlqEntryInfo> DeadLetterQueue::list(const Filter& f, size_t limit) const {
  std::lock_guard lk(mu_);
  std::vector<DlqEntryInfo> out;
  for (const auto& [name, sz] : sizes_) {
    if (out.size() >= limit) break;
    if (f.key && name != *f.key) continue;
    DlqEntryInfo info;
    load_entry(dir_ / name, info, nullptr);
    if (matches(info, f)) out.push_back(std::move(info));
  }
  return out;
}

size_t DeadLetterQueue::replay(
    const Filter& f, const std::function<bool(const std::string&, const OutEvent&)>& requeue) {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto it = sizes_.begin(); it != sizes_.end();) {
    DlqEntryInfo info;
    OutEvent ev;
    bool ok = load_entry(dir_ / it->first, info, &ev);
    if (!ok || !matches(info, f) || !requeue(info.sink, ev)) {
      ++it;
      continue;
    }
    ::unlink((dir_ / it->first).c_str());
    bytes_ -= std::min(bytes_, it->second);
    it = sizes_.erase(it);
    st_.replayed++;
    n++;
  }
  return n;
}

size_t DeadLetterQueue::purge(const Filter& f) {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto it = sizes_.begin(); it != sizes_.end();) {
    DlqEntryInfo info;
    bool ok = load_entry(dir_ / it->first, info, nullptr);
    // Corrupt entries match only unfiltered purges or their exact key.
    bool hit = ok ? matches(info, f) : (!f.sink && (!f.key || *f.key == it->first));
    if (!hit) {
      ++it;
      continue;
    }
    ::unlink((dir_ / it->first).c_str());
    bytes_ -= std::min(bytes_, it->second);
    it = sizes_.erase(it);
    st_.purged++;
    n++;
  }
  return n;
}

DlqStats DeadLetterQueue::stats() const {
  std::lock_guard lk(mu_);
  DlqStats s = st_;
  s.entries = sizes_.size();
  s.bytes = bytes_;
  s.max_bytes = max_bytes_;
  return s;
}

}  // namespace ringward::shipper
