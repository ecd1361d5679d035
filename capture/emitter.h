// Capture's emitter: stamps ids, encodes events as ring records, and applies capture's overload
// policy. When the raw ring is full, events wait in a bounded overflow queue that keeps id order;
// when that is full too, the oldest event of the lowest priority is dropped (never a Critical one
// while a lower one exists), each drop counted. Capture never blocks the kernel: while events
// wait, the main loop stops pumping the source and the kernel side counts its own losses.
//
// Accounting: an event counts as `captured` when it leaves capture, either written to the ring or
// dropped by policy. The counters and the ring position are published in one stats snapshot
// before the ring position itself, so a capture killed between the two completes the publication
// on restart (RingWriter::recover_position) and nothing is counted twice or lost.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <capnp/common.h>

#include "capture/source.h"
#include "common/clock.h"
#include "common/ring.h"
#include "common/stats.h"

namespace ringward::capture {

class CaptureEmitter final : public Emitter {
 public:
  CaptureEmitter(RingWriter& ring, StatsWriter& stats, const Clock& clock, std::string host,
                 size_t overflow_limit);

  bool emit(schema::Priority priority,
            kj::FunctionParam<void(schema::Event::Builder)> fill) override;
  void report_lost(std::string_view stage, std::string_view reason, std::string_view event_kind,
                   int cpu, uint64_t count) override;

  // Moves waiting events into the ring; true when none wait any more.
  bool drain();
  // Stopping with events still waiting (the ring stayed full): each is counted as captured and
  // dropped under dropped.capture.<reason>. Returns how many.
  size_t drop_queued(std::string_view reason);
  bool saturated() const { return queued_ > 0; }
  size_t queued() const { return queued_; }
  // Publishes the stats snapshot (with the ring position) and then the ring position.
  void flush();
  // After a restart: completes a publication the previous incarnation had snapshotted but not
  // published, and counts the events it had queued but not written (dropped.capture.crash),
  // unless the source makes them again (`queued_events_come_again`: the synthetic source resumes
  // from the last event written). A source that does not (the kernel's) also gets one in-band
  // Lost record {stage "capture", reason "restart", count: the events the predecessor took with
  // it}: what reads the stream learns that what happened while capture was down went unseen.
  void recover(bool queued_events_come_again = false);
  RingWriter& ring() { return ring_; }

 private:
  struct Pending {
    uint64_t id;
    std::string record;
  };
  void write_or_queue(uint64_t id, schema::Priority prio, std::string&& record);
  bool evict_below(schema::Priority prio);
  uint64_t next_id();

  RingWriter& ring_;
  StatsWriter& stats_;
  const Clock& clock_;
  std::string host_;
  size_t overflow_limit_;
  int64_t wall_offset_ns_;
  std::deque<Pending> queue_[4];  // per priority, each in id order
  size_t queued_ = 0;
  // First segment of every event's message, reused: zeroed once here, and Cap'n Proto zeroes
  // the part a message used when the builder goes away (a fresh 4 KiB calloc per event cost
  // ~14 % of capture's CPU under HTTP load). `segment_busy_` guards against a nested emit.
  std::unique_ptr<capnp::word[]> segment_;
  bool segment_busy_ = false;
  // Stats indices.
  // Counts an event that got an id as captured and settled (written or dropped); settled
  // falling behind issued after a crash is what the predecessor lost.
  void settle(uint64_t n = 1);

  size_t c_captured_, c_written_, c_dropped_overflow_, c_dropped_too_large_, c_ring_pos_, c_epoch_,
      c_seq_, c_lost_records_, c_ids_issued_, c_ids_settled_;
  uint64_t last_too_large_log_ns_ = 0;
  bool restart_announced_ = false;
};

}  // namespace ringward::capture
