// DeadLetterQueue: persistent, size-capped directory of events a sink refused permanently, one
// file per event (`dlq-<wall ns>-<n>.rwd`): sink, protocol status, reason, time, then the event as
// a framed record (record.h) so its Cap'n Proto payload stays readable by `capnp decode`. Written
// atomically (tmp + fsync + rename + fsync dir). list / replay / purge back
// `ringwardctl dlq list|replay|purge`. Trust: shipper process; files parsed defensively.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "shipper/core/io_util.h"
#include "shipper/core/sink.h"

namespace ringward::shipper {

struct DlqEntryInfo {
  std::string key;  // file name, the handle for purge
  std::string sink;
  int status = 0;
  std::string reason;
  uint64_t dead_wall_ns = 0;  // when it was dead-lettered
  uint64_t event_id = 0;
  schema::Priority priority = schema::Priority::NORMAL;
  uint64_t bytes = 0;
  bool corrupt = false;  // unreadable entry (listed so it can be purged)
};

struct DlqStats {
  uint64_t entries = 0, bytes = 0, max_bytes = 0;
  uint64_t written = 0, replayed = 0, purged = 0;
  uint64_t evicted = 0;  // oldest entries removed to honour the cap (counted drops, "dlq_full")
  uint64_t write_errors = 0, corrupt = 0;
  std::string last_error;
};

class DeadLetterQueue {
 public:
  static std::unique_ptr<DeadLetterQueue> open(std::filesystem::path dir, uint64_t max_bytes,
                                               const Clock& clock, io::IoError& err);

  // Persists one dead event. False (counted, last_error set) when it cannot be written; the caller
  // then counts the event as dropped with reason "dlq_write_failed".
  bool put(std::string_view sink, int status, std::string_view reason, const OutEvent& ev);

  struct Filter {
    std::optional<std::string> sink;
    std::optional<std::string> key;
  };
  std::vector<DlqEntryInfo> list(const Filter& f = {}, size_t limit = SIZE_MAX) const;
  // Hands every matching entry (oldest first) to `requeue(sink, event)`; an entry is removed only
  // when requeue returned true. Returns how many were re-queued.
  size_t replay(const Filter& f,
                const std::function<bool(const std::string& sink, const OutEvent& ev)>& requeue);
  // Removes matching entries (corrupt ones included); returns how many.
  size_t purge(const Filter& f);

  DlqStats stats() const;

 private:
  DeadLetterQueue(std::filesystem::path dir, uint64_t max_bytes, const Clock& clock);
  bool load_entry(const std::filesystem::path& p, DlqEntryInfo& info, OutEvent* ev) const;
  void rescan_locked();
  void evict_locked(uint64_t incoming);
  bool matches(const DlqEntryInfo& e, const Filter& f) const;

  std::filesystem::path dir_;
  uint64_t max_bytes_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> sizes_;  // file name -> bytes; names sort oldest first
  uint64_t bytes_ = 0;
  uint64_t counter_ = 0;
  mutable DlqStats st_;
};

}  // namespace ringward::shipper
