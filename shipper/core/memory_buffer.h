// MemoryBuffer: the bounded in-memory tail of the shipper's event log (`max_memory_buffer_mb`).
// Every accepted event is written to the disk log first (that is what makes the accounting promise
// hold across kill -9); the memory buffer keeps the newest records so that sinks keeping up are
// served from memory and never read the disk. A sink that falls behind the memory window (slow or
// down) spills to reading the disk log, and catches up into memory again. Trust: shipper process.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "shipper/core/sink.h"

namespace ringward::shipper {

// Where a record lives in the disk log (segment id = its first sequence number, byte offset).
struct LogPosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  bool operator==(const LogPosition&) const = default;
};

struct CachedRecord {
  uint64_t seq = 0;
  uint32_t sink_tag = 0;
  LogPosition pos;   // where the record starts
  LogPosition next;  // where the record after it starts
  std::shared_ptr<const OutEvent> event;
};

// Not thread-safe: the owning DiskBuffer serialises access.
class MemoryBuffer {
 public:
  explicit MemoryBuffer(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Adds the newest record (sequence numbers must increase); evicts the oldest beyond the cap.
  void push(CachedRecord rec);
  // The cached record with this sequence number, if it is still in memory.
  const CachedRecord* find(uint64_t seq) const;
  // Forgets every record of a segment removed from disk.
  void drop_segment(uint64_t segment);
  void clear();

  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  size_t size() const { return records_.size(); }

 private:
  static uint64_t cost(const CachedRecord& r) { return r.event->record.size() + 96; }
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::deque<CachedRecord> records_;  // contiguous, increasing seq
};

}  // namespace ringward::shipper
