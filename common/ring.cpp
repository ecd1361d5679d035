#include "common/ring.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "common/shm.h"

namespace ringward {
namespace {

constexpr uint32_t kTagData = 0x52570001;     // "RW" + data
constexpr uint32_t kTagPadding = 0x52570002;  // "RW" + padding to the end of the array
constexpr uint64_t kHeaderBytes = sizeof(RingHeader);

constexpr uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

constexpr int kSpinChecks = 256;
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

uint8_t* data_of(void* segment) { return static_cast<uint8_t*>(segment) + kHeaderBytes; }

struct RecordHeader {
  uint32_t length;
  uint32_t tag;
};

RecordHeader load_header(const uint8_t* p) {
  RecordHeader h;
  std::memcpy(&h, p, sizeof h);
  return h;
}

void store_header(uint8_t* p, uint32_t length, uint32_t tag) {
  RecordHeader h{length, tag};
  std::memcpy(p, &h, sizeof h);
}

}  // namespace

size_t ring_segment_size(uint64_t capacity) { return kHeaderBytes + capacity; }

void ring_format(void* segment, size_t segment_size, uint64_t capacity, uint64_t max_record,
                 std::string_view name) {
  if (capacity < 4096 || (capacity & (capacity - 1)) != 0)
    throw std::invalid_argument(fmt::format("ring '{}': capacity {} is not a power of two >= 4096",
                                            name, capacity));
  if (segment_size < ring_segment_size(capacity))
    throw std::invalid_argument(fmt::format("ring '{}': segment too small", name));
  auto* h = new (segment) RingHeader{};
  h->magic = kRingMagic;
  h->version = kRingVersion;
  h->header_size = static_cast<uint32_t>(kHeaderBytes);
  h->capacity = capacity;
  h->max_record = std::min<uint64_t>(max_record, capacity / 4 - kRecordHeaderSize);
  std::memset(h->name, 0, sizeof h->name);
  std::memcpy(h->name, name.data(), std::min(name.size(), sizeof h->name - 1));
  h->write_pos.store(0);
  h->read_pos.store(0);
}

RingHeader* ring_attach(void* segment, size_t segment_size) {
  if (segment_size < kHeaderBytes) throw std::runtime_error("ring segment smaller than its header");
  auto* h = static_cast<RingHeader*>(segment);
  if (h->magic != kRingMagic || h->version != kRingVersion || h->header_size != kHeaderBytes)
    throw std::runtime_error("ring segment has a bad magic or version");
  uint64_t cap = h->capacity;
  if (cap < 4096 || (cap & (cap - 1)) != 0 || ring_segment_size(cap) > segment_size)
    throw std::runtime_error(fmt::format("ring segment has a bad capacity {}", cap));
  if (h->max_record == 0 || h->max_record > cap / 4)
    throw std::runtime_error("ring segment has a bad max_record");
  return h;
}

// ---------------------------------------------------------------------------------------------
// Producer

RingWriter::RingWriter(void* segment, size_t segment_size)
    : hdr_(ring_attach(segment, segment_size)),
      data_(data_of(segment)),
      capacity_(hdr_->capacity),
      mask_(capacity_ - 1),
      max_record_(hdr_->max_record) {
  // Resume after a restart from the published position, unless the consumer's position makes it
  // impossible (then the consumer is wrong or hostile: restart from its position, counted).
  uint64_t w = hdr_->write_pos.load(std::memory_order_acquire);
  uint64_t r = hdr_->read_pos.load(std::memory_order_acquire);
  if ((w & 7) != 0 || r > w || w - r > capacity_ || (r & 7) != 0) {
    ++faults_.bad_consumer_pos;
    w = align8(std::max(w, r));
    hdr_->write_pos.store(w, std::memory_order_release);
    r = w;
  }
  pos_ = published_ = w;
  last_read_ = r;
}

uint64_t RingWriter::consumer_position() {
  uint64_t r = hdr_->read_pos.load(std::memory_order_acquire);
  // Legal window: [last accepted, published]. Anything else is a hostile or confused consumer.
  if (r < last_read_ || r > published_ || (r & 7) != 0) {
    if (r != last_read_) ++faults_.bad_consumer_pos;
    return last_read_;
  }
  last_read_ = r;
  return r;
}

uint8_t* RingWriter::reserve(uint32_t len) {
  if (len > max_record_) return nullptr;
  uint64_t need = align8(kRecordHeaderSize + len);
  uint64_t off = pos_ & mask_;
  uint64_t tail = capacity_ - off;
  uint64_t total = need <= tail ? need : tail + need;  // padding to the end, then the record
  // Re-read the consumer's position (a shared cache line) only when the cached one says "full".
  if (pos_ + total - last_read_ > capacity_ && pos_ + total - consumer_position() > capacity_)
    return nullptr;
  if (need > tail) {
    store_header(data_ + off, static_cast<uint32_t>(tail - kRecordHeaderSize), kTagPadding);
    pos_ += tail;
    off = 0;
  }
  store_header(data_ + off, len, kTagData);
  reserved_total_ = need;
  return data_ + off + kRecordHeaderSize;
}

void RingWriter::finish() {
  pos_ += reserved_total_;
  reserved_total_ = 0;
}

bool RingWriter::try_write(std::span<const uint8_t> payload) {
  uint8_t* p = reserve(static_cast<uint32_t>(payload.size()));
  if (p == nullptr) return false;
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());  // an empty span may be null
  finish();
  return true;
}

void RingWriter::publish() {
  if (pos_ == published_) return;
  hdr_->write_pos.store(pos_, std::memory_order_release);
  published_ = pos_;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (hdr_->consumer_sleeping.load(std::memory_order_relaxed) != 0) {
    hdr_->data_seq.fetch_add(1, std::memory_order_release);
    futex_wake_all(&hdr_->data_seq);
  }
}

bool RingWriter::recover_position(uint64_t pos) {
  uint64_t r = consumer_position();
  if (pos <= published_ || (pos & 7) != 0 || pos - r > capacity_) return false;
  pos_ = pos;
  publish();
  return true;
}

bool RingWriter::wait_for_space(uint32_t len, uint64_t timeout_ns) {
  uint64_t need = align8(kRecordHeaderSize + len) * 2;  // worst case: padding + record
  auto fits = [&] { return pos_ + std::min<uint64_t>(need, capacity_) - consumer_position() <= capacity_; };
  for (int i = 0; i < kSpinChecks; ++i) {
    if (fits()) return true;
    cpu_relax();
  }
  uint32_t seq = hdr_->space_seq.load(std::memory_order_acquire);
  hdr_->producer_sleeping.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!fits()) futex_wait(&hdr_->space_seq, seq, timeout_ns);
  hdr_->producer_sleeping.store(0, std::memory_order_relaxed);
  return fits();
}

double RingWriter::utilization() {
  uint64_t r = consumer_position();
  return static_cast<double>(pos_ - r) / static_cast<double>(capacity_);
}

// ---------------------------------------------------------------------------------------------
// Consumer

RingReader::RingReader(void* segment, size_t segment_size)
    : hdr_(ring_attach(segment, segment_size)),
      data_(data_of(segment)),
      capacity_(hdr_->capacity),
      mask_(capacity_ - 1),
      max_record_(hdr_->max_record) {
  uint64_t r = hdr_->read_pos.load(std::memory_order_acquire);
  uint64_t w = hdr_->write_pos.load(std::memory_order_acquire);
  if ((r & 7) != 0 || r > w || w - r > capacity_) {
    ++faults_.bad_producer_pos;
    r = w & ~uint64_t{7};
    hdr_->read_pos.store(r, std::memory_order_release);
  }
  cursor_ = r;
  committed_ = r;
}

uint64_t RingReader::producer_position() {
  uint64_t w = hdr_->write_pos.load(std::memory_order_acquire);
  if (w < cursor_ || w - cursor_ > capacity_ || (w & 7) != 0) {
    // The producer claims a position we cannot have: it lapped us or went backwards. Nothing
    // between can be trusted; skip to its position (counted) and go on from there.
    ++faults_.bad_producer_pos;
    if ((w & 7) == 0) {
      faults_.skipped_bytes += w > cursor_ ? w - cursor_ : 0;
      cursor_ = w;
    }
    return cursor_;
  }
  return w;
}

std::optional<std::span<const uint8_t>> RingReader::next() {
  // Re-read the producer's position (a shared cache line) only once the known records are used.
  if (cursor_ >= known_write_) known_write_ = producer_position();
  uint64_t w = known_write_;
  while (cursor_ < w) {
    uint64_t off = cursor_ & mask_;
    uint64_t tail = capacity_ - off;
    if (tail < kRecordHeaderSize) {  // cannot happen with 8-byte alignment; treat as garbage
      ++faults_.bad_header;
      faults_.skipped_bytes += tail;
      cursor_ += tail;
      continue;
    }
    RecordHeader h = load_header(data_ + off);
    // Compare lengths against what is left (w - cursor_), never cursor_ + x: a hostile position
    // near 2^64 must not wrap around.
    if (h.tag == kTagPadding && h.length == tail - kRecordHeaderSize && tail <= w - cursor_) {
      cursor_ += tail;
      continue;
    }
    uint64_t need = align8(kRecordHeaderSize + uint64_t{h.length});
    if (h.tag == kTagData && h.length <= max_record_ && need <= tail && need <= w - cursor_) {
      std::span<const uint8_t> rec(data_ + off + kRecordHeaderSize, h.length);
      cursor_ += need;
      return rec;
    }
    // Garbage: step one word and look for the next plausible header.
    ++faults_.bad_header;
    faults_.skipped_bytes += 8;
    cursor_ += 8;
  }
  return std::nullopt;
}

void RingReader::commit() { commit_to(cursor_); }

void RingReader::commit_to(uint64_t pos) {
  // The consumer owns read_pos: its own record of what it committed is the truth, whatever the
  // shared word says now (a rogue writer may have scribbled it; the next commit repairs it).
  if (pos > cursor_ || (pos <= committed_ && hdr_->read_pos.load(std::memory_order_relaxed) == committed_))
    return;
  pos = std::max(pos, committed_);
  committed_ = pos;
  hdr_->read_pos.store(pos, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (hdr_->producer_sleeping.load(std::memory_order_relaxed) != 0) {
    hdr_->space_seq.fetch_add(1, std::memory_order_release);
    futex_wake_all(&hdr_->space_seq);
  }
}

bool RingReader::seek(uint64_t pos) {
  uint64_t w = hdr_->write_pos.load(std::memory_order_acquire);
  uint64_t r = hdr_->read_pos.load(std::memory_order_acquire);
  if ((pos & 7) != 0 || pos < r || pos > w) return false;
  cursor_ = pos;
  return true;
}

bool RingReader::wait(uint64_t timeout_ns) {
  // A short bounded spin first: under load the producer publishes again within microseconds,
  // and a futex sleep + wake costs both sides a syscall. Idle, it costs ~2 µs, then sleeps.
  for (int i = 0; i < kSpinChecks; ++i) {
    if (!empty()) return true;
    cpu_relax();
  }
  uint32_t seq = hdr_->data_seq.load(std::memory_order_acquire);
  hdr_->consumer_sleeping.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (empty()) futex_wait(&hdr_->data_seq, seq, timeout_ns);
  hdr_->consumer_sleeping.store(0, std::memory_order_relaxed);
  return !empty();
}

uint64_t RingReader::committed() const { return hdr_->read_pos.load(std::memory_order_acquire); }
uint64_t RingReader::published() const { return hdr_->write_pos.load(std::memory_order_acquire); }
bool RingReader::empty() { return producer_position() == cursor_; }

// ---------------------------------------------------------------------------------------------

RingUsage ring_usage(const void* segment, size_t segment_size, bool count_records) {
  RingUsage u;
  auto* h = ring_attach(const_cast<void*>(segment), segment_size);
  const auto* data = static_cast<const uint8_t*>(segment) + kHeaderBytes;
  u.capacity = h->capacity;
  u.read_pos = h->read_pos.load(std::memory_order_acquire);
  u.write_pos = h->write_pos.load(std::memory_order_acquire);
  if (u.write_pos < u.read_pos || u.write_pos - u.read_pos > u.capacity) return u;
  u.used_bytes = u.write_pos - u.read_pos;
  // Positions are written by the peers: only walk records from a position a record can start at.
  if (!count_records || (u.read_pos & 7) != 0) return u;
  uint64_t mask = u.capacity - 1;
  // Walk by bytes remaining, not by absolute position: hostile positions near 2^64 must not wrap.
  uint64_t c = u.read_pos;
  for (uint64_t left = u.used_bytes; left > 0;) {
    uint64_t off = c & mask;
    if (u.capacity - off < kRecordHeaderSize) break;
    RecordHeader rh = load_header(data + off);
    uint64_t step = 8;
    if (rh.tag == kTagPadding) {
      step = u.capacity - off;
    } else if (rh.tag == kTagData && rh.length <= h->max_record) {
      step = align8(kRecordHeaderSize + uint64_t{rh.length});
      if (step <= left) ++u.pending_records;
    }
    if (step > left) break;
    left -= step;
    c += step;
  }
  return u;
}

}  // namespace ringward
