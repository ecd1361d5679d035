// Single-producer single-consumer ring of variable-length records in shared memory.
//
// Layout: a header (immutable geometry, then producer position, consumer position and the two
// wake-up words, each on its own cache line) followed by a power-of-two byte array. A record is an
// 8-byte header {u32 length, u32 tag} and its payload, padded to 8 bytes; a record never wraps: at
// the end of the array the producer writes a padding record and starts again at offset 0.
//
// Trust: the two peers distrust each other. The producer clamps the consumer's committed position;
// the consumer bounds every length and tag against the published producer position and
// resynchronises after garbage. Every fault is counted, none crashes either side. Positions are
// free-running 64-bit byte counters.
//
// Delivery: the consumer commits only after it has fully handled a record, so a consumer that dies
// re-reads what it had not committed. The producer publishes its position once per batch.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ringward {

inline constexpr uint64_t kRingMagic = 0x31474e4952445752ULL;  // "RWDRING1"
inline constexpr uint32_t kRingVersion = 1;
inline constexpr uint32_t kRecordHeaderSize = 8;

struct alignas(64) RingHeader {
  // Cache line 0: geometry, written once by the creator.
  uint64_t magic;
  uint32_t version;
  uint32_t header_size;
  uint64_t capacity;    // bytes in the data array, a power of two
  uint64_t max_record;  // largest payload accepted
  char name[24];
  // Cache line 1: producer-owned.
  alignas(64) std::atomic<uint64_t> write_pos;
  // Cache line 2: consumer-owned.
  alignas(64) std::atomic<uint64_t> read_pos;
  // Cache line 3: consumer sleeps on data_seq.
  alignas(64) std::atomic<uint32_t> data_seq;
  std::atomic<uint32_t> consumer_sleeping;
  // Cache line 4: producer sleeps on space_seq.
  alignas(64) std::atomic<uint32_t> space_seq;
  std::atomic<uint32_t> producer_sleeping;
};
static_assert(sizeof(RingHeader) == 320);

struct RingFaults {
  uint64_t bad_header = 0;        // consumer: record header with a bad tag or length
  uint64_t skipped_bytes = 0;     // consumer: bytes skipped while resynchronising
  uint64_t bad_producer_pos = 0;  // consumer: producer position outside the legal window
  uint64_t bad_consumer_pos = 0;  // producer: consumer position outside the legal window
};

// Size of the shared-memory segment for a ring of `capacity` data bytes.
size_t ring_segment_size(uint64_t capacity);
// Formats a zero-filled segment. `capacity` must be a power of two >= 4096.
void ring_format(void* segment, size_t segment_size, uint64_t capacity, uint64_t max_record,
                 std::string_view name);
// Validates the header of a mapped segment; returns the header or throws std::runtime_error.
RingHeader* ring_attach(void* segment, size_t segment_size);

class RingWriter {
 public:
  RingWriter(void* segment, size_t segment_size);

  // Reserves room for a payload of `len` bytes; nullptr when the ring is full or len is too large.
  // The returned memory is 8-byte aligned. Call finish() to append it (unpublished).
  uint8_t* reserve(uint32_t len);
  void finish();
  // Copies a whole record; false when there is no room.
  bool try_write(std::span<const uint8_t> payload);
  // Makes finished records visible and wakes a sleeping consumer. Once per batch.
  void publish();
  // Re-publishes a position this producer had reached before it died (capture recovery): accepted
  // only if it is ahead of the published position by at most the free space.
  bool recover_position(uint64_t pos);
  // Waits until `len` bytes fit or timeout; true if they fit.
  bool wait_for_space(uint32_t len, uint64_t timeout_ns);

  double utilization();  // published bytes not yet committed by the consumer / capacity
  uint64_t pending_position() const { return pos_; }
  uint64_t published_position() const { return published_; }
  uint64_t max_record() const { return max_record_; }
  const RingFaults& faults() const { return faults_; }

 private:
  uint64_t consumer_position();  // clamped
  RingHeader* hdr_;
  uint8_t* data_;
  uint64_t capacity_;
  uint64_t mask_;
  uint64_t max_record_;
  uint64_t pos_;        // next byte to write (local, may be ahead of published_)
  uint64_t published_;  // last value stored to write_pos
  uint64_t last_read_;  // last consumer position accepted
  uint64_t reserved_total_ = 0;
  RingFaults faults_;
};

class RingReader {
 public:
  RingReader(void* segment, size_t segment_size);

  // The next record after the local cursor, or nullopt when none is published. The span points into
  // shared memory that a hostile producer may still change: copy it before parsing.
  std::optional<std::span<const uint8_t>> next();
  // Commits everything returned so far (the consumer has fully handled it).
  void commit();
  // Commits up to `pos` (a value of position()); clamped to what was read.
  void commit_to(uint64_t pos);
  // Moves the local cursor to `pos` if it lies in the legal window (resuming from a checkpoint).
  bool seek(uint64_t pos);
  // Sleeps until a record is published or timeout; true if data is available.
  bool wait(uint64_t timeout_ns);

  uint64_t position() const { return cursor_; }
  uint64_t committed() const;
  uint64_t published() const;
  bool empty();
  const RingFaults& faults() const { return faults_; }

 private:
  uint64_t producer_position();  // clamped
  RingHeader* hdr_;
  const uint8_t* data_;
  uint64_t capacity_;
  uint64_t mask_;
  uint64_t max_record_;
  uint64_t cursor_;
  uint64_t known_write_ = 0;  // last producer position read, clamped
  uint64_t committed_ = 0;    // last position this consumer committed
  RingFaults faults_;
};

// Read-only view for the supervisor: occupancy and pending record count, never mutates.
struct RingUsage {
  uint64_t capacity = 0;
  uint64_t used_bytes = 0;
  uint64_t pending_records = 0;
  uint64_t write_pos = 0;
  uint64_t read_pos = 0;
};
RingUsage ring_usage(const void* segment, size_t segment_size, bool count_records);

}  // namespace ringward
