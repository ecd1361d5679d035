// libFuzzer target: the shared-memory ring's consumer (RingReader) and producer (RingWriter) and
// the supervisor's read-only walk (ring_usage) over a segment whose positions and data area hold
// arbitrary bytes, with the data changing between reads (a hostile peer writes while we read).
// Invariants: every record handed out lies inside the data area and within max_record, the
// cursor never moves backwards or past the published position, a writer never writes outside
// the segment (ASan: the segment ends at a guard page), and nothing loops forever.
// Build: tests/fuzz/meson.build (-Dfuzz=true with clang); scripts/fuzz.sh runs it.
// Input: 8 bytes write_pos, 8 bytes read_pos, then the data area image, then mutation bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <sys/mman.h>
#include <unistd.h>

#include "common/ring.h"

namespace {

constexpr uint64_t kCapacity = 4096;

// The segment ends exactly at a PROT_NONE page, so a read past its end faults in every build,
// not only under ASan (the replay test runs without sanitizers too).
class GuardedSegment {
 public:
  explicit GuardedSegment(size_t size) : size_(size) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    span_ = (size + page - 1) / page * page + page;
    void* m = mmap(nullptr, span_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) std::abort();
    base_ = static_cast<uint8_t*>(m);
    if (mprotect(base_ + span_ - page, page, PROT_NONE) != 0) std::abort();
    data_ = base_ + span_ - page - size;
  }
  ~GuardedSegment() { munmap(base_, span_); }
  GuardedSegment(const GuardedSegment&) = delete;
  GuardedSegment& operator=(const GuardedSegment&) = delete;
  uint8_t* get() const { return data_; }

 private:
  size_t size_;
  size_t span_ = 0;
  uint8_t* base_ = nullptr;
  uint8_t* data_ = nullptr;
};

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16) return 0;
  const size_t seg_size = ringward::ring_segment_size(kCapacity);
  GuardedSegment seg(seg_size);
  std::memset(seg.get(), 0, seg_size);
  ringward::ring_format(seg.get(), seg_size, kCapacity, 1024, "fuzz");
  auto* hdr = reinterpret_cast<ringward::RingHeader*>(seg.get());
  uint8_t* area = seg.get() + sizeof(ringward::RingHeader);
  uint64_t w = load64(data), r = load64(data + 8);
  // Half the inputs keep positions near each other so record parsing is reached often.
  if (w & 1) {
    w = (w >> 1) % (4 * kCapacity);
    r = w - std::min<uint64_t>(w, (r >> 1) % (kCapacity + 64));
  }
  hdr->write_pos.store(w);
  hdr->read_pos.store(r);
  data += 16;
  size -= 16;
  size_t image = std::min<size_t>(size, kCapacity);
  std::memcpy(area, data, image);
  data += image;
  size -= image;

  (void)ringward::ring_usage(seg.get(), seg_size, true);

  ringward::RingReader reader(seg.get(), seg_size);
  uint64_t last = reader.position();
  for (int i = 0; i < 4096; ++i) {
    auto rec = reader.next();
    uint64_t pos = reader.position();
    if (pos < last && reader.faults().bad_producer_pos == 0) std::abort();  // moved back unasked
    last = pos;
    if (!rec) {
      if (size < 2) break;
      // The hostile producer writes again: one byte and a new position.
      area[data[0] % kCapacity] = data[1];
      hdr->write_pos.store(hdr->write_pos.load() + (data[1] & 0x38));
      data += 2;
      size -= 2;
      continue;
    }
    const uint8_t* b = rec->data();
    if (b < area || b + rec->size() > area + kCapacity) std::abort();
    if (rec->size() > hdr->max_record) std::abort();
    if (i % 7 == 0) reader.commit();
  }
  reader.commit();
  (void)ringward::ring_usage(seg.get(), seg_size, true);

  // The producer side on the same (possibly garbage) positions: must stay inside the segment.
  ringward::RingWriter writer(seg.get(), seg_size);
  uint8_t payload[300] = {};
  for (int i = 0; i < 64; ++i) {
    uint32_t len = static_cast<uint32_t>((i * 37) % 300);
    if (!writer.try_write({payload, len})) break;
    if (i % 5 == 0) writer.publish();
  }
  writer.publish();
  (void)writer.utilization();
  return 0;
}
