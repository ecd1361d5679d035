// DiskBuffer implementation: segmented log, per-sink checkpoints, recovery, cap and disk-full
// policies. Trust: shipper process; every byte read back from disk is parsed defensively.
#include "shipper/core/disk_buffer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cinttypes>
#include <cstring>
#include <limits>

#include "shipper/core/record.h"

namespace ringward::shipper {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kFullFlagNs = 10'000'000'000ULL;
constexpr uint32_t kCkptMagic = 0x4b435752;    // "RWCK": v1, position only (16 bytes)
constexpr uint32_t kCkptMagicV2 = 0x32435752;  // "RWC2": position + lifetime counters
// Drop reasons persisted in a v2 checkpoint, in file order.
constexpr const char* kCkptReasons[] = {"buffer_full", "buffer_full_critical", "disk_full",
                                        "io_error", "dlq_write_failed", "retries_exhausted"};
constexpr size_t kCkptV2Size = 4 + 8 * (4 + std::size(kCkptReasons)) + 4;

bool is_critical(uint8_t prio) { return prio == static_cast<uint8_t>(schema::Priority::CRITICAL); }

std::string segment_name(uint64_t key) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "seg-%020" PRIu64 ".rwb", key);
  return buf;
}

std::optional<uint64_t> parse_segment_name(const std::string& n) {
  if (n.size() != 4 + 20 + 4 || n.compare(0, 4, "seg-") != 0 || n.compare(24, 4, ".rwb") != 0)
    return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 4; i < 24; ++i) {
    if (n[i] < '0' || n[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(n[i] - '0');
  }
  return v;
}

std::string checkpoint_name(const std::string& sink) {
  std::string s = "ack-";
  for (char c : sink.substr(0, 64)) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%08x", record::sink_tag(sink));
  return s + buf + ".ckpt";
}

}  // namespace

const char* to_string(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::always: return "always";
    case FsyncPolicy::interval: return "interval";
    case FsyncPolicy::batch: return "batch";
  }
  return "?";
}

std::optional<FsyncPolicy> parse_fsync_policy(std::string_view s) {
  if (s == "always") return FsyncPolicy::always;
  if (s == "interval") return FsyncPolicy::interval;
  if (s == "batch") return FsyncPolicy::batch;
  return std::nullopt;
}

struct DiskBuffer::Segment {
  uint64_t key = 0;
  fs::path path;
  io::Fd fd;
  uint64_t end = 0;  // end of the last valid record
  uint64_t last_seq = 0;
  uint64_t records = 0;
  uint64_t critical_bytes = 0, noncritical_bytes = 0;
  std::vector<std::pair<uint64_t, uint64_t>> skips;  // known bad ranges [from, to)
};

struct DiskBuffer::SinkState {
  std::string name;
  uint32_t tag = 0;
  fs::path ckpt;
  uint64_t acked = 0;
  uint64_t persisted = 0;
  bool cursor_valid = false;
  LogPosition cursor;
  uint64_t last_read_seq = 0;  // last record consumed (handed out or skipped as not ours)
  uint64_t last_handed_seq = 0;  // last record handed out to the sink's worker
  uint64_t delivered = 0, dead_lettered = 0, duplicates = 0;  // lifetime, checkpointed
  uint64_t pending_at_open = 0;  // readable records found at open that this sink still needs
  bool counters_dirty = false;
  std::map<std::string, uint64_t> dropped;
};

DiskBuffer::DiskBuffer(DiskBufferOptions opts, const Clock& clock)
    : opts_(std::move(opts)), clock_(clock), memory_(opts_.memory_bytes) {
  opts_.segment_bytes = std::clamp<uint64_t>(opts_.segment_bytes, 64 << 10,
                                             std::max<uint64_t>(64 << 10, opts_.max_bytes / 4));
  opts_.critical_reserve = std::clamp(opts_.critical_reserve, 0.0, 0.9);
}

DiskBuffer::~DiskBuffer() {
  std::lock_guard lk(mu_);
  maybe_fsync_locked(true);
  for (size_t i = 0; i < sinks_.size(); ++i) persist_checkpoint_locked(i);
}

std::unique_ptr<DiskBuffer> DiskBuffer::open(DiskBufferOptions opts, const Clock& clock,
                                             io::IoError& err) {
  std::unique_ptr<DiskBuffer> b(new DiskBuffer(std::move(opts), clock));
  err = b->load();
  if (!err.ok()) return nullptr;
  return b;
}

io::IoError DiskBuffer::load() {
  if (auto e = io::make_dirs(opts_.dir); !e.ok()) return e;
  std::error_code ec;
  std::vector<uint64_t> keys;
  for (auto it = fs::directory_iterator(opts_.dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      fs::remove(it->path(), ec);  // half-written checkpoint from a crash: the old one is valid
      ec.clear();
      continue;
    }
    if (auto k = parse_segment_name(n)) keys.push_back(*k);
  }
  if (ec) return io::IoError::from_errno(ec.value(), "list " + opts_.dir.string());
  std::sort(keys.begin(), keys.end());
  uint64_t max_seq = 0;
  for (const auto& name : opts_.sinks) {
    SinkState s;
    s.name = name;
    s.tag = record::sink_tag(name);
    s.ckpt = opts_.dir / checkpoint_name(name);
    std::string data;
    if (io::read_file(s.ckpt, data, 256).ok()) {
      uint32_t magic = 0, crc = 0;
      if (data.size() >= 4) std::memcpy(&magic, data.data(), 4);
      auto u64 = [&](size_t off) {
        uint64_t v;
        std::memcpy(&v, data.data() + off, 8);
        return v;
      };
      if (magic == kCkptMagic && data.size() == 16) {
        std::memcpy(&crc, data.data() + 12, 4);
        if (crc == record::crc32(0, data.data(), 12)) s.acked = s.persisted = u64(4);
        else magic = 0;
      } else if (magic == kCkptMagicV2 && data.size() == kCkptV2Size) {
        std::memcpy(&crc, data.data() + kCkptV2Size - 4, 4);
        if (crc == record::crc32(0, data.data(), kCkptV2Size - 4)) {
          s.acked = s.persisted = u64(4);
          s.delivered = u64(12);
          s.dead_lettered = u64(20);
          s.duplicates = u64(28);
          for (size_t r = 0; r < std::size(kCkptReasons); ++r)
            if (uint64_t v = u64(36 + 8 * r)) s.dropped[kCkptReasons[r]] = v;
        } else {
          magic = 0;
        }
      } else {
        magic = 0;
      }
      if (magic == 0)
        st_.last_error = "checkpoint " + s.ckpt.string() + " unreadable: replaying from the start";
    }
    s.last_read_seq = s.acked;
    max_seq = std::max(max_seq, s.acked);
    sinks_.push_back(std::move(s));
  }
  // Segments after the checkpoints: the scan counts what each sink still needs.
  for (size_t i = 0; i < keys.size(); ++i) {
    Segment seg;
    seg.key = keys[i];
    seg.path = opts_.dir / segment_name(keys[i]);
    scan_segment(seg, i + 1 == keys.size());
    max_seq = std::max({max_seq, seg.last_seq, seg.key > 0 ? seg.key - 1 : 0});
    total_bytes_ += seg.end;
    segments_.emplace(seg.key, std::move(seg));
  }
  next_seq_ = max_seq + 1;
  uint64_t min_ack = min_acked_locked();
  for (auto& [k, seg] : segments_)
    if (seg.last_seq > min_ack) st_.replayed_at_open += seg.records;  // upper bound per segment
  collect_garbage_locked();
  last_fsync_ns_ = last_checkpoint_ns_ = clock_.mono_ns();
  if (auto e = open_new_segment_locked(); !e.ok()) note_error_locked(e);  // retried on append
  return {};
}

void DiskBuffer::scan_segment(Segment& seg, bool is_last) {
  if (auto e = io::open_file(seg.path, O_RDWR, 0, seg.fd); !e.ok()) {
    note_error_locked(e);
    return;
  }
  std::string data;
  if (auto e = io::read_file(seg.path, data, std::numeric_limits<size_t>::max()); !e.ok()) {
    note_error_locked(e);
    return;
  }
  size_t off = 0;
  while (off < data.size()) {
    record::Parsed p;
    auto r = record::parse(data.data() + off, data.size() - off, p);
    if (r == record::ParseError::none) {
      seg.last_seq = std::max(seg.last_seq, p.header.seq);
      for (auto& sk : sinks_)
        if (p.header.seq > sk.acked && (p.header.sink_tag == 0 || p.header.sink_tag == sk.tag))
          sk.pending_at_open++;
      uint64_t& mx = max_event_id_[p.header.event_id >> 63];
      mx = std::max(mx, p.header.event_id);
      seg.records++;
      (is_critical(p.header.priority) ? seg.critical_bytes : seg.noncritical_bytes) += p.total;
      off += p.total;
      seg.end = off;
      continue;
    }
    auto next = record::resync(data.data(), data.size(), off);
    if (!next) {  // nothing valid follows: a record torn by a crash mid-write
      st_.torn_records++;
      st_.skipped_bytes += data.size() - off;
      break;
    }
    st_.corrupt_records++;
    st_.skipped_bytes += *next - off;
    seg.skips.emplace_back(off, *next);
    off = *next;
  }
  if (is_last && seg.end < data.size()) {
    // Cut the torn tail so it is reported once and new data never follows garbage.
    if (::ftruncate(seg.fd.get(), static_cast<off_t>(seg.end)) < 0)
      note_error_locked(io::IoError::from_errno(errno, "truncate torn tail of " + seg.path.string()));
  }
  if (st_.torn_records || st_.corrupt_records)
    st_.last_error = "recovered " + seg.path.filename().string() + ": skipped " +
                     std::to_string(st_.torn_records) + " torn and " +
                     std::to_string(st_.corrupt_records) + " corrupt records so far";
}

io::IoError DiskBuffer::open_new_segment_locked() {
  if (have_active_) {
    auto it = segments_.find(active_key_);
    if (it != segments_.end() && it->second.records == 0) return {};  // still empty: keep it
    if (it != segments_.end()) {
      if (auto e = io::fsync_fd(it->second.fd.get(), it->second.path.string()); !e.ok())
        note_error_locked(e);
      st_.fsyncs++;
    }
  }
  uint64_t key = next_seq_;
  auto existing = segments_.find(key);
  if (existing == segments_.end()) {
    Segment seg;
    seg.key = key;
    seg.path = opts_.dir / segment_name(key);
    if (auto e = io::open_file(seg.path, O_RDWR | O_CREAT | O_APPEND, 0600, seg.fd); !e.ok())
      return e;
    if (::ftruncate(seg.fd.get(), 0) < 0) return io::IoError::from_errno(errno, "truncate new segment");
    segments_.emplace(key, std::move(seg));
    if (auto e = io::fsync_dir(opts_.dir); !e.ok()) note_error_locked(e);
  } else {
    // An empty segment from a previous run with the same first seq: append to it (O_APPEND).
    Segment& seg = existing->second;
    if (auto e = io::open_file(seg.path, O_RDWR | O_APPEND, 0600, seg.fd); !e.ok()) return e;
  }
  active_key_ = key;
  have_active_ = true;
  return {};
}

size_t DiskBuffer::sink_index(std::string_view name) const {
  for (size_t i = 0; i < sinks_.size(); ++i)
    if (sinks_[i].name == name) return i;
  return npos;
}

AppendOutcome DiskBuffer::append(const OutEvent& ev, std::string_view only_sink) {
  return append_shared(std::make_shared<const OutEvent>(ev), only_sink);
}

AppendOutcome DiskBuffer::append(OutEvent&& ev, std::string_view only_sink) {
  return append_shared(std::make_shared<const OutEvent>(std::move(ev)), only_sink);
}

AppendOutcome DiskBuffer::append_shared(std::shared_ptr<const OutEvent> shared,
                                        std::string_view only_sink) {
  AppendOutcome out;
  {
    std::lock_guard lk(mu_);
    out = append_locked(shared, only_sink.empty() ? 0 : record::sink_tag(only_sink), true);
  }
  if (out.stored) data_cv_.notify_all();
  return out;
}

AppendOutcome DiskBuffer::append_locked(const std::shared_ptr<const OutEvent>& shared, uint32_t tag,
                                        bool count_append) {
  const OutEvent& ev = *shared;
  AppendOutcome out;
  const uint8_t prio = static_cast<uint8_t>(ev.priority);
  if (ev.record.size() > record::kMaxPayload) {
    count_drop_locked(kDropIoError, next_seq_, tag);
    st_.dropped[kDropIoError]++;
    out.error = "event " + std::to_string(ev.id) + " larger than 16 MiB: dropped";
    return out;
  }
  const size_t framed = record::framed_size(ev.record.size());
  enforce_cap_locked(framed, is_critical(prio));
  if (!is_critical(prio) &&
      total_bytes_ + framed > static_cast<uint64_t>(opts_.max_bytes * (1.0 - opts_.critical_reserve))) {
    // Only Critical records are left to evict: the newcomer is the oldest non-critical loser.
    count_drop_locked(kDropBufferFull, next_seq_, tag);
    st_.dropped[kDropBufferFull]++;
    last_full_ns_ = clock_.mono_ns() + 1;
    out.error = "buffer full of critical events: non-critical event dropped";
    return out;
  }
  record::Header h;
  h.length = static_cast<uint32_t>(ev.record.size());
  h.event_id = ev.id;
  h.wall_ns = ev.wall_ns;
  h.sink_tag = tag;
  h.priority = prio;
  std::string framed_bytes;
  // Encoded at write time: an eviction may carry Critical records forward and take seq numbers.
  auto write = [&] {
    h.seq = next_seq_;
    framed_bytes.clear();
    record::encode(h, ev.record, framed_bytes);
    return write_record_locked(framed_bytes, h.seq, tag, shared);
  };
  auto e = write();
  if (!e.ok() && e.err == ENOSPC) {
    st_.enospc_errors++;
    note_error_locked(e);
    last_full_ns_ = clock_.mono_ns() + 1;
    // Make room: oldest non-critical first, then anything, and try once more.
    if (evict_oldest_locked(false, kDropDiskFull) || evict_oldest_locked(true, kDropDiskFull))
      e = write();
    if (!e.ok() && e.err == ENOSPC) st_.enospc_errors++;
  }
  if (!e.ok()) {
    const char* reason = e.err == ENOSPC ? kDropDiskFull : kDropIoError;
    if (e.err != ENOSPC) st_.io_errors++;
    note_error_locked(e);
    count_drop_locked(reason, next_seq_, tag);
    st_.dropped[reason]++;
    out.error = "buffer write failed (" + e.what + "): event " + std::to_string(ev.id) +
                " dropped as " + reason;
    return out;
  }
  next_seq_++;
  if (count_append) {
    st_.appended++;
    st_.appended_bytes += framed;
  }
  maybe_fsync_locked(false);
  out.stored = true;
  out.seq = h.seq;
  return out;
}

io::IoError DiskBuffer::write_record_locked(const std::string& framed, uint64_t seq, uint32_t tag,
                                            const std::shared_ptr<const OutEvent>& shared) {
  auto it = have_active_ ? segments_.find(active_key_) : segments_.end();
  if (it == segments_.end() ||
      (it->second.records > 0 && it->second.end + framed.size() > opts_.segment_bytes)) {
    // next_seq_ == seq here, so the new segment is named after this record.
    if (auto e = open_new_segment_locked(); !e.ok()) return e;
    it = segments_.find(active_key_);
  }
  Segment& seg = it->second;
  size_t written = 0;
  if (auto e = io::write_all(seg.fd.get(), framed.data(), framed.size(), &written); !e.ok()) {
    truncate_partial_locked(seg, written);
    return io::IoError::from_errno(e.err, "append to " + seg.path.string());
  }
  note_written_locked(seg, framed.size(), seq, tag, shared);
  return {};
}

void DiskBuffer::truncate_partial_locked(Segment& seg, size_t written) {
  if (written == 0 || ::ftruncate(seg.fd.get(), static_cast<off_t>(seg.end)) == 0) return;
  note_error_locked(io::IoError::from_errno(errno, "truncate partial record"));
  // The fragment stays: a known bad range that readers and a reopen skip, with the next record
  // after it (O_APPEND), so every position the log hands out stays true.
  seg.skips.emplace_back(seg.end, seg.end + written);
  seg.end += written;
  seg.noncritical_bytes += written;
  total_bytes_ += written;
  st_.skipped_bytes += written;
}

void DiskBuffer::note_written_locked(Segment& seg, size_t framed, uint64_t seq, uint32_t tag,
                                     const std::shared_ptr<const OutEvent>& shared) {
  const OutEvent& ev = *shared;
  CachedRecord c;
  c.seq = seq;
  c.sink_tag = tag;
  c.pos = {seg.key, seg.end};
  seg.end += framed;
  c.next = {seg.key, seg.end};
  seg.records++;
  seg.last_seq = seq;
  max_event_id_[ev.id >> 63] = std::max(max_event_id_[ev.id >> 63], ev.id);
  (is_critical(static_cast<uint8_t>(ev.priority)) ? seg.critical_bytes : seg.noncritical_bytes) +=
      framed;
  total_bytes_ += framed;
  dirty_ = true;
  c.event = shared;
  memory_.push(std::move(c));
}

std::vector<AppendOutcome> DiskBuffer::append_batch(std::vector<OutEvent>&& evs) {
  std::vector<AppendOutcome> outs(evs.size());
  bool stored = false;
  {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < evs.size(); ++i) {
      auto shared = std::make_shared<const OutEvent>(std::move(evs[i]));
      if (stage_locked(shared, i)) continue;
      flush_staged_locked(outs);  // keeps the log in order
      outs[i] = append_locked(shared, 0, true);
    }
    flush_staged_locked(outs);
    for (const auto& o : outs) stored = stored || o.stored;
  }
  evs.clear();
  if (stored) data_cv_.notify_all();
  return outs;
}

bool DiskBuffer::stage_locked(const std::shared_ptr<const OutEvent>& shared, size_t index) {
  const OutEvent& ev = *shared;
  if (!have_active_ || ev.record.size() > record::kMaxPayload) return false;
  auto it = segments_.find(active_key_);
  if (it == segments_.end()) return false;
  const size_t framed = record::framed_size(ev.record.size());
  const uint64_t after = staged_.bytes.size() + framed;
  // Below the non-critical cap nothing is evicted or refused, for either priority.
  if (it->second.end + after > opts_.segment_bytes ||
      total_bytes_ + after > static_cast<uint64_t>(opts_.max_bytes * (1.0 - opts_.critical_reserve)))
    return false;
  record::Header h;
  h.length = static_cast<uint32_t>(ev.record.size());
  h.seq = next_seq_ + staged_.items.size();
  h.event_id = ev.id;
  h.wall_ns = ev.wall_ns;
  h.sink_tag = 0;
  h.priority = static_cast<uint8_t>(ev.priority);
  record::encode(h, ev.record, staged_.bytes);
  staged_.items.push_back({shared, index, framed});
  return true;
}

void DiskBuffer::flush_staged_locked(std::vector<AppendOutcome>& outs) {
  if (staged_.items.empty()) return;
  Segment& seg = segments_.find(active_key_)->second;  // stage_locked found it; nothing rotated
  size_t written = 0;
  const io::IoError e = io::write_all(seg.fd.get(), staged_.bytes.data(), staged_.bytes.size(), &written);
  // Records written whole are stored, at the positions and seqs they were encoded with.
  size_t i = 0, done = 0;
  for (; i < staged_.items.size() && done + staged_.items[i].framed <= written; ++i) {
    const auto& item = staged_.items[i];
    done += item.framed;
    note_written_locked(seg, item.framed, next_seq_, 0, item.event);
    outs[item.index].stored = true;
    outs[item.index].seq = next_seq_++;
    st_.appended++;
    st_.appended_bytes += item.framed;
  }
  if (!e.ok()) {
    if (e.err == ENOSPC) {
      st_.enospc_errors++;
      last_full_ns_ = clock_.mono_ns() + 1;
    } else {
      st_.io_errors++;
    }
    note_error_locked(io::IoError::from_errno(e.err, "append to " + seg.path.string()));
    truncate_partial_locked(seg, written - done);
    // The rest one at a time, as append() would: evictions on ENOSPC, the error and drop counted.
    for (; i < staged_.items.size(); ++i)
      outs[staged_.items[i].index] = append_locked(staged_.items[i].event, 0, true);
  }
  staged_.items.clear();
  staged_.bytes.clear();
  maybe_fsync_locked(false);
}

void DiskBuffer::enforce_cap_locked(uint64_t incoming, bool critical) {
  const uint64_t limit = critical ? opts_.max_bytes
                                  : static_cast<uint64_t>(opts_.max_bytes * (1.0 - opts_.critical_reserve));
  for (size_t guard = 2 * segments_.size() + 4; total_bytes_ + incoming > limit && guard > 0; --guard) {
    last_full_ns_ = clock_.mono_ns() + 1;
    if (evict_oldest_locked(false, kDropBufferFull)) continue;
    // The active segment cannot be evicted while written: seal it when it holds evictable data.
    auto act = have_active_ ? segments_.find(active_key_) : segments_.end();
    if (act != segments_.end() && act->second.records > 0 &&
        (critical || act->second.noncritical_bytes > 0)) {
      if (open_new_segment_locked().ok() && active_key_ != act->first) continue;
    }
    if (critical && evict_oldest_locked(true, kDropBufferFullCritical)) continue;
    return;
  }
}

bool DiskBuffer::evict_oldest_locked(bool allow_critical, const char* reason) {
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    Segment& seg = it->second;
    if (have_active_ && it->first == active_key_) continue;
    if (!allow_critical && seg.noncritical_bytes == 0) continue;
    // Records a sink has in flight (read, not acknowledged) stay: if that batch never completes
    // (the shipper stops or crashes while the sink is down), they are replayed from here. A batch
    // pins at most one or two segments; the next oldest one is evicted instead.
    bool in_flight = false;
    for (const auto& sk : sinks_)
      in_flight = in_flight || (sk.last_read_seq > sk.acked && it->first <= sk.last_read_seq &&
                                seg.last_seq > sk.acked);
    if (in_flight) continue;
    std::string data;
    if (seg.end > 0) {
      data.resize(seg.end);
      size_t got = 0;
      if (auto e = io::pread_full(seg.fd.get(), data.data(), seg.end, 0, got); !e.ok()) {
        note_error_locked(e);
        got = 0;
      }
      data.resize(got);
    }
    const uint64_t min_ack = min_acked_locked();
    // Cap evictions name Critical losses separately; disk-full and I/O keep their own reason.
    const bool cap = std::strcmp(reason, kDropBufferFull) == 0 ||
                     std::strcmp(reason, kDropBufferFullCritical) == 0;
    const char* crit_reason = cap ? kDropBufferFullCritical : reason;
    const char* norm_reason = cap ? kDropBufferFull : reason;
    size_t off = 0;
    std::vector<std::pair<record::Header, std::string>> carry;
    while (off < data.size()) {
      bool skipped = false;
      for (auto& [from, to] : seg.skips)
        if (off >= from && off < to) {
          off = to;
          skipped = true;
        }
      if (skipped) continue;
      record::Parsed p;
      if (record::parse(data.data() + off, data.size() - off, p) != record::ParseError::none) {
        auto next = record::resync(data.data(), data.size(), off);
        if (!next) break;
        off = *next;
        continue;
      }
      off += p.total;
      if (p.header.seq <= min_ack) continue;  // every sink is done with it
      if (!allow_critical && is_critical(p.header.priority)) {
        // Carried only for the sinks that still need it: one that acknowledged it, or has it in
        // a batch, would get the copy at the tail as well and deliver and count it twice.
        std::vector<uint32_t> tags;
        size_t applicable = 0;
        for (const auto& sk : sinks_) {
          if (p.header.sink_tag != 0 && p.header.sink_tag != sk.tag) continue;
          ++applicable;
          if (p.header.seq > sk.acked && p.header.seq > sk.last_read_seq) tags.push_back(sk.tag);
        }
        if (tags.empty()) continue;
        if (tags.size() == applicable) tags.assign(1, p.header.sink_tag);  // one copy for all of them
        for (uint32_t tag : tags) {
          record::Header h = p.header;
          h.sink_tag = tag;
          carry.emplace_back(h, std::string(p.payload));
        }
        continue;
      }
      const char* why = is_critical(p.header.priority) ? crit_reason : norm_reason;
      count_drop_locked(why, p.header.seq, p.header.sink_tag);
      st_.dropped[why]++;
    }
    // Carry Critical records forward to the tail before deleting their segment (write first, so a
    // crash in between duplicates rather than loses them). Their seq changes; order among
    // Critical records is kept.
    for (auto& [h, payload] : carry) {
      auto ev = std::make_shared<OutEvent>();
      ev->id = h.event_id;
      ev->wall_ns = h.wall_ns;
      ev->priority = static_cast<schema::Priority>(h.priority);
      ev->record = std::move(payload);
      record::Header nh = h;
      nh.seq = next_seq_;
      std::string framed;
      record::encode(nh, ev->record, framed);
      if (write_record_locked(framed, nh.seq, h.sink_tag, ev).ok()) {
        next_seq_++;
        st_.carried_critical++;
      } else {
        count_drop_locked(crit_reason, h.seq, h.sink_tag);
        st_.dropped[crit_reason]++;
      }
    }
    // The drop counters (and the acknowledgements of records in this segment) are persisted
    // before the segment goes, so a crash in between cannot lose them.
    persist_all_checkpoints_locked();
    delete_segment_locked(it);
    return true;
  }
  return false;
}

void DiskBuffer::count_drop_locked(const char* reason, uint64_t seq, uint32_t tag) {
  for (auto& s : sinks_) {
    if (tag != 0 && tag != s.tag) continue;
    if (seq <= s.acked || seq <= s.last_read_seq) continue;  // done, or in flight at the sink
    s.dropped[reason]++;
    s.counters_dirty = true;
    drops_dirty_ = true;
  }
}

void DiskBuffer::delete_segment_locked(std::map<uint64_t, Segment>::iterator it) {
  memory_.drop_segment(it->first);
  total_bytes_ -= std::min(total_bytes_, it->second.end);
  if (::unlink(it->second.path.c_str()) < 0 && errno != ENOENT)
    note_error_locked(io::IoError::from_errno(errno, "delete " + it->second.path.string()));
  if (have_active_ && it->first == active_key_) have_active_ = false;
  segments_.erase(it);
}

uint64_t DiskBuffer::min_acked_locked() const {
  uint64_t m = std::numeric_limits<uint64_t>::max();
  for (const auto& s : sinks_) m = std::min(m, s.acked);
  return m;
}

uint64_t DiskBuffer::min_persisted_locked() const {
  uint64_t m = std::numeric_limits<uint64_t>::max();
  for (const auto& s : sinks_) m = std::min(m, s.persisted);
  return m;
}

void DiskBuffer::persist_all_checkpoints_locked() {
  bool ok = true;
  for (size_t i = 0; i < sinks_.size(); ++i) {
    persist_checkpoint_locked(i);
    ok = ok && !sinks_[i].counters_dirty;
  }
  if (ok) drops_dirty_ = false;
  last_checkpoint_ns_ = clock_.mono_ns();
}

void DiskBuffer::collect_garbage_locked() {
  const uint64_t min_ack = min_acked_locked();
  while (!segments_.empty()) {
    auto it = segments_.begin();
    if (have_active_ && it->first == active_key_) break;
    if (it->second.records > 0 && it->second.last_seq > min_ack) break;
    // A segment leaves only once the checkpoints say every sink is done with it: with a stale
    // checkpoint (the `interval` policy) a crash would replay from a position whose records are
    // gone, and the acknowledgements (and delivered counts) of those records would be lost.
    if (it->second.records > 0 && it->second.last_seq > min_persisted_locked()) {
      persist_all_checkpoints_locked();
      if (it->second.last_seq > min_persisted_locked()) break;  // checkpoint write failed: keep it
    }
    delete_segment_locked(it);
  }
}

void DiskBuffer::commit() {
  std::lock_guard lk(mu_);
  maybe_fsync_locked(opts_.fsync != FsyncPolicy::interval);
  // A dropped event has no record to replay: its count must be on disk before the ring position
  // that handed it over is committed (drops are rare, so this costs nothing in steady state).
  if (drops_dirty_) persist_all_checkpoints_locked();
}

void DiskBuffer::tick() {
  std::lock_guard lk(mu_);
  maybe_fsync_locked(false);
}

void DiskBuffer::maybe_fsync_locked(bool force) {
  const uint64_t now = clock_.mono_ns();
  const uint64_t interval = static_cast<uint64_t>(opts_.fsync_interval.count()) * 1'000'000ULL;
  bool due = opts_.fsync == FsyncPolicy::always || force || now - last_fsync_ns_ >= interval;
  if (opts_.fsync == FsyncPolicy::batch && !force) due = false;
  if (due && dirty_ && have_active_) {
    auto it = segments_.find(active_key_);
    if (it != segments_.end()) {
      if (::fdatasync(it->second.fd.get()) < 0) {
        st_.io_errors++;
        note_error_locked(io::IoError::from_errno(errno, "fdatasync " + it->second.path.string()));
      } else {
        st_.fsyncs++;
        dirty_ = false;
      }
    }
    last_fsync_ns_ = now;
  }
  if (now - last_checkpoint_ns_ >= interval || force) {
    for (size_t i = 0; i < sinks_.size(); ++i) persist_checkpoint_locked(i);
    last_checkpoint_ns_ = now;
  }
}

void DiskBuffer::persist_checkpoint_locked(size_t i) {
  SinkState& s = sinks_[i];
  if (s.acked == s.persisted && !s.counters_dirty) return;
  std::string buf;
  auto put64 = [&](uint64_t v) { buf.append(reinterpret_cast<const char*>(&v), 8); };
  buf.append(reinterpret_cast<const char*>(&kCkptMagicV2), 4);
  put64(s.acked);
  put64(s.delivered);
  put64(s.dead_lettered);
  put64(s.duplicates);
  for (const char* r : kCkptReasons) {
    auto it = s.dropped.find(r);
    put64(it == s.dropped.end() ? 0 : it->second);
  }
  uint32_t crc = record::crc32(0, buf.data(), buf.size());
  buf.append(reinterpret_cast<const char*>(&crc), 4);
  if (auto e = io::write_file_atomic(s.ckpt, buf); !e.ok()) {
    st_.io_errors++;
    note_error_locked(e);
    return;  // retried on the next ack/tick; meanwhile a crash only re-delivers
  }
  st_.checkpoint_writes++;
  s.persisted = s.acked;
  s.counters_dirty = false;
}

void DiskBuffer::note_error_locked(const io::IoError& e) { st_.last_error = e.what; }

size_t DiskBuffer::read(size_t si, size_t max_events, uint64_t max_bytes,
                        std::vector<BufferedEvent>& out) {
  std::lock_guard lk(mu_);
  if (si >= sinks_.size()) return 0;
  SinkState& st = sinks_[si];
  size_t n = 0;
  uint64_t bytes = 0;
  while (n < max_events && (n == 0 || bytes < max_bytes)) {
    BufferedEvent ev;
    bool end = false;
    if (!read_disk_record_locked(st, ev, end)) {
      if (end) break;
      continue;  // skipped a record that is not ours
    }
    bytes += ev.event->record.size();
    out.push_back(std::move(ev));
    n++;
  }
  return n;
}

// Returns true with a record for this sink; false with end=true at the end of the log; false with
// end=false after consuming a record that is not for this sink or is already acknowledged.
bool DiskBuffer::read_disk_record_locked(SinkState& st, BufferedEvent& out, bool& end) {
  if (!st.cursor_valid) {
    auto it = segments_.upper_bound(st.acked + 1);
    if (it != segments_.begin()) --it;
    if (it == segments_.end()) {
      end = true;
      return false;
    }
    st.cursor = {it->first, 0};
    st.cursor_valid = true;
    st.last_read_seq = st.acked;
  }
  for (;;) {
    auto it = segments_.find(st.cursor.segment);
    if (it == segments_.end()) {  // evicted under us: continue with the next one
      it = segments_.upper_bound(st.cursor.segment);
      if (it == segments_.end()) {
        end = true;
        return false;
      }
      st.cursor = {it->first, 0};
    }
    Segment& seg = it->second;
    for (auto& [from, to] : seg.skips)
      if (st.cursor.offset >= from && st.cursor.offset < to) st.cursor.offset = to;
    if (st.cursor.offset >= seg.end) {
      auto next = std::next(it);
      if (next == segments_.end()) {
        end = true;
        return false;
      }
      st.cursor = {next->first, 0};
      continue;
    }
    std::shared_ptr<const OutEvent> ev;
    record::Header h;
    const CachedRecord* c = memory_.find(st.last_read_seq + 1);
    if (c && c->pos == st.cursor) {
      st_.memory_hits++;
      ev = c->event;
      h.seq = c->seq;
      h.sink_tag = c->sink_tag;
      st.cursor = c->next;
    } else {
      std::string buf(record::kHeaderSize, '\0');
      size_t got = 0;
      auto e = io::pread_full(seg.fd.get(), buf.data(), buf.size(), st.cursor.offset, got);
      record::Parsed p;
      record::ParseError pe = record::ParseError::truncated;
      if (e.ok() && got == buf.size()) {
        uint32_t len = 0;
        std::memcpy(&len, buf.data() + 4, 4);
        size_t total = record::framed_size(std::min(len, record::kMaxPayload));
        if (st.cursor.offset + total <= seg.end) {
          buf.resize(total);
          e = io::pread_full(seg.fd.get(), buf.data(), total, st.cursor.offset, got);
          if (e.ok() && got == total) pe = record::parse(buf.data(), buf.size(), p);
        }
      }
      if (!e.ok()) {
        st_.io_errors++;
        note_error_locked(e);
      }
      if (pe != record::ParseError::none) {
        // Damaged after open (bad disk): resync within the segment and remember the range.
        std::string rest(seg.end - st.cursor.offset, '\0');
        io::pread_full(seg.fd.get(), rest.data(), rest.size(), st.cursor.offset, got);
        rest.resize(got);
        auto next = record::resync(rest.data(), rest.size(), 0);
        uint64_t to = next ? st.cursor.offset + *next : seg.end;
        st_.corrupt_records++;
        st_.skipped_bytes += to - st.cursor.offset;
        seg.skips.emplace_back(st.cursor.offset, to);
        st.cursor.offset = to;
        continue;
      }
      st_.disk_reads++;
      h = p.header;
      auto oe = std::make_shared<OutEvent>();
      oe->id = h.event_id;
      oe->wall_ns = h.wall_ns;
      oe->priority = static_cast<schema::Priority>(std::min<uint8_t>(h.priority, 3));
      oe->record.assign(p.payload);
      ev = std::move(oe);
      st.cursor.offset += p.total;
    }
    if (h.seq <= st.acked) return false;
    bool ours = h.sink_tag == 0 || h.sink_tag == st.tag;
    if (!ours) {
      if (st.last_read_seq == st.acked) st.acked = h.seq;  // nothing in flight: skip is an ack
      st.last_read_seq = h.seq;
      return false;
    }
    st.last_read_seq = h.seq;
    st.last_handed_seq = h.seq;
    out.seq = h.seq;
    out.event = std::move(ev);
    return true;
  }
}

void DiskBuffer::ack(size_t si, uint64_t seq, const AckCounts& counts) {
  std::lock_guard lk(mu_);
  if (si >= sinks_.size()) return;
  SinkState& s = sinks_[si];
  s.delivered += counts.delivered;
  s.dead_lettered += counts.dead_lettered;
  s.duplicates += counts.duplicates;
  for (auto& [r, v] : counts.dropped) s.dropped[r] += v;
  if (counts.delivered || counts.dead_lettered || !counts.dropped.empty()) s.counters_dirty = true;
  if (seq <= s.acked) return;
  // Acking the last record handed out also acks the records after it skipped as not ours, so
  // records meant for another sink only never pin a segment.
  s.acked = seq >= s.last_handed_seq ? std::max(seq, s.last_read_seq) : seq;
  if (s.last_read_seq < s.acked) s.last_read_seq = s.acked;
  if (opts_.fsync != FsyncPolicy::interval) persist_checkpoint_locked(si);
  collect_garbage_locked();
}

void DiskBuffer::rewind(size_t si) {
  std::lock_guard lk(mu_);
  if (si >= sinks_.size()) return;
  sinks_[si].cursor_valid = false;
  sinks_[si].last_read_seq = sinks_[si].acked;
}

bool DiskBuffer::wait_for_data(size_t si, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (si >= sinks_.size()) return false;
  return data_cv_.wait_for(lk, timeout, [&] { return next_seq_ - 1 > sinks_[si].last_read_seq; });
}

void DiskBuffer::notify_all() { data_cv_.notify_all(); }

uint64_t DiskBuffer::max_event_id(int origin) const {
  std::lock_guard lk(mu_);
  return max_event_id_[origin & 1];
}

uint64_t DiskBuffer::unread(size_t si) const {
  std::lock_guard lk(mu_);
  if (si >= sinks_.size()) return 0;
  return next_seq_ - 1 > sinks_[si].last_read_seq ? next_seq_ - 1 - sinks_[si].last_read_seq : 0;
}

DiskBufferStats DiskBuffer::stats() const {
  std::lock_guard lk(mu_);
  DiskBufferStats s = st_;
  s.bytes = total_bytes_;
  s.max_bytes = opts_.max_bytes;
  s.segments = segments_.size();
  s.memory_bytes = memory_.bytes();
  s.full = last_full_ns_ != 0 && clock_.mono_ns() < last_full_ns_ + kFullFlagNs;
  for (const auto& k : sinks_) {
    DiskBufferStats::Sink& o = s.sinks.emplace_back();
    o.name = k.name;
    o.acked_seq = k.acked;
    o.backlog = next_seq_ - 1 > k.acked ? next_seq_ - 1 - k.acked : 0;
    o.pending_at_open = k.pending_at_open;
    o.dropped = k.dropped;
    o.delivered = k.delivered;
    o.dead_lettered = k.dead_lettered;
    o.duplicates = k.duplicates;
  }
  return s;
}

}  // namespace ringward::shipper
