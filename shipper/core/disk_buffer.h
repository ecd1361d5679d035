// DiskBuffer: the shipper's crash-safe event log in `buffer_dir`, shared by every sink, each sink
// with its own acknowledged position. Segmented append-only files `seg-<first seq>.rwb` of framed
// records (record.h), a checkpoint file per sink, a MemoryBuffer tail in front for sinks that keep
// up. Trust: shipper process; the files may be torn or corrupted by crashes and bad disks, and are
// parsed defensively (never refusing to start, never needing a manual delete).
//
// What "acknowledged" (append() returned stored=true) means under each fsync policy:
//  - always:   the record was written and fdatasync'd before append() returned: it survives a
//              process crash, a kernel crash and a power loss.
//  - batch:    the record was written (survives kill -9 of the shipper, it is in the page cache);
//              it survives a power loss once commit() returned, which the shipper calls at the end
//              of every batch read from the out ring, before committing the ring position.
//  - interval: the record was written (survives kill -9); the log is fdatasync'd at most
//              `fsync_interval` later (tick()/append()), so a power loss or kernel crash can lose
//              the last interval.
// Sink checkpoints are written atomically (tmp + fsync + rename + fsync dir): on every ack under
// `always`/`batch`, at most every `fsync_interval` under `interval`, and always before a segment
// is deleted (a segment leaves only once every persisted checkpoint is past it). A stale
// checkpoint can only cause re-delivery (duplicates, counted once), never loss.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "shipper/core/io_util.h"
#include "shipper/core/memory_buffer.h"
#include "shipper/core/sink.h"

namespace ringward::shipper {

enum class FsyncPolicy { always, interval, batch };
const char* to_string(FsyncPolicy p);
std::optional<FsyncPolicy> parse_fsync_policy(std::string_view s);

struct DiskBufferOptions {
  std::filesystem::path dir;
  uint64_t max_bytes = 1024ull << 20;      // max_buffer_size_mb
  uint64_t segment_bytes = 8ull << 20;     // clamped to [64 KiB, max_bytes / 4]
  uint64_t memory_bytes = 64ull << 20;     // max_memory_buffer_mb (tail cache)
  double critical_reserve = 0.10;          // share of max_bytes only Critical events may use
  FsyncPolicy fsync = FsyncPolicy::interval;
  std::chrono::milliseconds fsync_interval{1000};
  std::vector<std::string> sinks;          // stable sink names; each gets its own position
};

// Drop reasons (also the `reason` label of the dropped counters).
inline constexpr const char* kDropBufferFull = "buffer_full";
inline constexpr const char* kDropBufferFullCritical = "buffer_full_critical";
inline constexpr const char* kDropDiskFull = "disk_full";
inline constexpr const char* kDropIoError = "io_error";

// What a sink's worker finished with the records it acknowledges; persisted in the sink's
// checkpoint together with the position, so lifetime counters and the position never disagree
// after a crash (the replayed records are counted again exactly once).
struct AckCounts {
  uint64_t delivered = 0;
  uint64_t dead_lettered = 0;
  uint64_t duplicates = 0;  // among `delivered`: the peer already had them
  std::map<std::string, uint64_t> dropped;  // worker-side drops by reason
};

struct AppendOutcome {
  bool stored = false;
  uint64_t seq = 0;
  std::string error;  // when !stored: why (the event was dropped and counted under that reason)
};

struct BufferedEvent {
  uint64_t seq = 0;
  std::shared_ptr<const OutEvent> event;
};

struct DiskBufferStats {
  uint64_t bytes = 0, max_bytes = 0, segments = 0;
  uint64_t appended = 0, appended_bytes = 0;
  uint64_t replayed_at_open = 0;  // records found unacknowledged (by some sink) at open
  uint64_t corrupt_records = 0, torn_records = 0, skipped_bytes = 0;
  uint64_t io_errors = 0, enospc_errors = 0, fsyncs = 0, checkpoint_writes = 0;
  uint64_t carried_critical = 0;  // Critical records moved forward when their segment was evicted
  uint64_t memory_bytes = 0, memory_hits = 0, disk_reads = 0;
  bool full = false;  // a cap or disk-full drop happened in the last 10 s
  std::string last_error;
  std::map<std::string, uint64_t> dropped;  // buffer-level records dropped by reason
  struct Sink {
    std::string name;
    uint64_t acked_seq = 0;
    uint64_t backlog = 0;  // records appended but not yet acknowledged by this sink
    // Readable records found when the buffer was opened that this sink had not acknowledged:
    // exact, unlike backlog (a seq range that may hold evicted or re-written records).
    uint64_t pending_at_open = 0;
    // Lifetime counters (restored from the checkpoint, consistent with acked_seq).
    uint64_t delivered = 0, dead_lettered = 0, duplicates = 0;
    std::map<std::string, uint64_t> dropped;  // records this sink never got, by reason
  };
  std::vector<Sink> sinks;
};

class DiskBuffer {
 public:
  // Opens or creates the log, scans every segment (skipping and counting torn/corrupt records),
  // loads the checkpoints. Fails only when the directory cannot be created or listed.
  static std::unique_ptr<DiskBuffer> open(DiskBufferOptions opts, const Clock& clock,
                                          io::IoError& err);
  ~DiskBuffer();
  DiskBuffer(const DiskBuffer&) = delete;
  DiskBuffer& operator=(const DiskBuffer&) = delete;

  // Appends one event for every sink (sink_tag 0) or for one sink only (`only_sink`, DLQ replay).
  // Fail-open: at the cap it evicts oldest non-critical first and always accepts; on ENOSPC it
  // evicts and retries once, then drops the event counted as disk_full.
  AppendOutcome append(const OutEvent& ev, std::string_view only_sink = {});
  // The same, taking the event over instead of copying it (the memory tail keeps it).
  AppendOutcome append(OutEvent&& ev, std::string_view only_sink = {});
  // Appends events for every sink, in order, with one write() for the run of them that fits in
  // the active segment below the cap (the common case); an event that needs the cap, a new
  // segment or an error's eviction goes through append() semantics on its own. Outcome i is
  // event i's. When it returns, every stored event is written exactly as after append().
  std::vector<AppendOutcome> append_batch(std::vector<OutEvent>&& evs);
  // fsync point of the `batch` policy (no-op for the others, which sync on their own).
  void commit();
  // Periodic housekeeping: interval fsync and checkpoint persistence.
  void tick();

  size_t sink_index(std::string_view name) const;  // npos if unknown
  static constexpr size_t npos = static_cast<size_t>(-1);

  // Hands out the next records for sink `s` after the ones already handed out, in log order.
  size_t read(size_t s, size_t max_events, uint64_t max_bytes, std::vector<BufferedEvent>& out);
  // Every record of sink `s` up to and including `seq` is done (delivered, dead-lettered, or
  // dropped by policy); segments every sink is done with are deleted.
  void ack(size_t s, uint64_t seq, const AckCounts& counts = {});
  // Forgets what was handed out but not acknowledged: the next read() starts after the ack.
  void rewind(size_t s);
  // Blocks until sink `s` may have something to read, or `timeout` passes.
  bool wait_for_data(size_t s, std::chrono::milliseconds timeout);
  void notify_all();  // wakes waiters (shutdown)
  // Records appended after the last one sink `s` consumed (an upper bound: includes other sinks').
  uint64_t unread(size_t s) const;
  // Highest event id ever appended per origin (bit 63 of the id; 0 = capture, 1 = processor),
  // from the records on disk at open and every append since: lets the shipper skip events it
  // stored just before a crash when the out ring hands them over again.
  uint64_t max_event_id(int origin) const;

  DiskBufferStats stats() const;
  const DiskBufferOptions& options() const { return opts_; }

 private:
  struct Segment;
  struct SinkState;
  DiskBuffer(DiskBufferOptions opts, const Clock& clock);
  io::IoError load();
  void scan_segment(Segment& seg, bool is_last);
  io::IoError open_new_segment_locked();
  AppendOutcome append_shared(std::shared_ptr<const OutEvent> ev, std::string_view only_sink);
  AppendOutcome append_locked(const std::shared_ptr<const OutEvent>& ev, uint32_t tag,
                              bool count_append);
  io::IoError write_record_locked(const std::string& framed, uint64_t seq, uint32_t tag,
                                  const std::shared_ptr<const OutEvent>& ev);
  // Bookkeeping of a record just written at seg.end: sizes, memory tail, highest event id.
  void note_written_locked(Segment& seg, size_t framed, uint64_t seq, uint32_t tag,
                           const std::shared_ptr<const OutEvent>& ev);
  // append_batch: encodes `ev` behind the staged records when it needs nothing but a write
  // (false: it needs the cap, a new segment, or is too large).
  bool stage_locked(const std::shared_ptr<const OutEvent>& ev, size_t index);
  // Writes the staged records with one write(); after a failure those written whole are stored
  // and the rest go through append_locked one at a time (eviction and retry on ENOSPC, drops
  // counted). Fills their outcomes.
  void flush_staged_locked(std::vector<AppendOutcome>& outs);
  // Undoes a partial write at the end of `seg` (the file ends at seg.end again); when the
  // truncation fails, the fragment becomes a known bad range and seg.end moves past it.
  void truncate_partial_locked(Segment& seg, size_t written);
  bool evict_oldest_locked(bool allow_critical, const char* reason);
  void enforce_cap_locked(uint64_t incoming, bool critical);
  void delete_segment_locked(std::map<uint64_t, Segment>::iterator it);
  void collect_garbage_locked();
  void persist_checkpoint_locked(size_t s);
  void maybe_fsync_locked(bool force);
  void note_error_locked(const io::IoError& e);
  void count_drop_locked(const char* reason, uint64_t seq, uint32_t tag);
  bool read_disk_record_locked(SinkState& st, BufferedEvent& out, bool& end);
  uint64_t min_acked_locked() const;
  uint64_t min_persisted_locked() const;
  void persist_all_checkpoints_locked();

  DiskBufferOptions opts_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable data_cv_;
  std::map<uint64_t, Segment> segments_;  // by first seq
  std::vector<SinkState> sinks_;
  MemoryBuffer memory_;
  io::Fd active_fd_;
  uint64_t active_key_ = 0;
  bool have_active_ = false;
  uint64_t next_seq_ = 1;
  uint64_t max_event_id_[2] = {0, 0};
  uint64_t total_bytes_ = 0;
  uint64_t last_fsync_ns_ = 0;
  uint64_t last_checkpoint_ns_ = 0;
  uint64_t last_full_ns_ = 0;
  bool dirty_ = false;
  struct Staged {
    std::string bytes;  // framed records, contiguous
    struct Item {
      std::shared_ptr<const OutEvent> event;
      size_t index = 0;    // in the append_batch call
      size_t framed = 0;
    };
    std::vector<Item> items;
  } staged_;  // reused across append_batch calls
  bool drops_dirty_ = false;  // a drop was counted that no checkpoint holds yet
  DiskBufferStats st_;
};

}  // namespace ringward::shipper
