#include "capture/emitter.h"

#include <capnp/message.h>
#include <kj/common.h>

#include <optional>
#include <spdlog/spdlog.h>

#include "common/event_codec.h"

namespace ringward::capture {
namespace {
constexpr size_t kSegmentWords = 512;  // 4 KiB: the largest event (HTTP, 2 KiB of payload) fits
}  // namespace

CaptureEmitter::CaptureEmitter(RingWriter& ring, StatsWriter& stats, const Clock& clock,
                               std::string host, size_t overflow_limit)
    : ring_(ring),
      stats_(stats),
      clock_(clock),
      host_(std::move(host)),
      overflow_limit_(overflow_limit),
      wall_offset_ns_(static_cast<int64_t>(clock.wall_ns()) - static_cast<int64_t>(clock.mono_ns())),
      segment_(new capnp::word[kSegmentWords]()) {
  c_captured_ = stats_.counter("captured");
  c_written_ = stats_.counter("written");
  c_dropped_overflow_ = stats_.counter("dropped.capture.overflow");
  c_dropped_too_large_ = stats_.counter("dropped.capture.too_large");
  c_ring_pos_ = stats_.counter("ring_pos");
  c_epoch_ = stats_.counter("id_epoch");
  c_seq_ = stats_.counter("id_next_seq");
  c_lost_records_ = stats_.counter("lost_records");
  c_ids_issued_ = stats_.counter("ids_issued");
  c_ids_settled_ = stats_.counter("ids_settled");
  // Ids: epoch (seconds) in the high 32 bits, sequence in the low 32. A restarted capture keeps
  // its epoch and sequence; a new pipeline starts a later epoch.
  uint64_t now_s = clock.wall_ns() / 1'000'000'000ULL;
  if (stats_.get(c_epoch_) == 0) {
    stats_.set(c_epoch_, now_s & 0x7fffffffULL);
    stats_.set(c_seq_, 0);
  }
}

uint64_t CaptureEmitter::next_id() {
  uint64_t seq = stats_.get(c_seq_);
  if (seq > 0xffffffffULL) {
    uint64_t now_s = (clock_.wall_ns() / 1'000'000'000ULL) & 0x7fffffffULL;
    stats_.set(c_epoch_, std::max(now_s, stats_.get(c_epoch_) + 1));
    seq = 0;
  }
  stats_.set(c_seq_, seq + 1);
  stats_.add(c_ids_issued_);
  return (stats_.get(c_epoch_) << 32) | seq;
}

bool CaptureEmitter::emit(schema::Priority priority,
                          kj::FunctionParam<void(schema::Event::Builder)> fill) {
  // A nested emit (none today) builds on the heap instead of sharing the segment.
  const bool nested = segment_busy_;
  std::optional<capnp::MallocMessageBuilder> builder;
  if (nested) {
    builder.emplace(kSegmentWords);
  } else {
    builder.emplace(kj::arrayPtr(segment_.get(), kSegmentWords));
  }
  capnp::MallocMessageBuilder& msg = *builder;
  segment_busy_ = true;
  KJ_DEFER(segment_busy_ = nested);
  auto ev = msg.initRoot<schema::Event>();
  uint64_t id = next_id();
  ev.setId(id);
  ev.setHost(host_);
  ev.setPriority(priority);
  fill(ev);
  if (ev.getWallNs() == 0 && ev.getMonoNs() != 0)
    ev.setWallNs(static_cast<uint64_t>(static_cast<int64_t>(ev.getMonoNs()) + wall_offset_ns_));
  schema::Priority prio = ev.getPriority();
  if (flat_message_size(msg) > ring_.max_record()) {
    // It could never be written: queued, it would block every later event for good.
    stats_.add(c_dropped_too_large_);
    settle();
    const uint64_t now = clock_.mono_ns();
    if (last_too_large_log_ns_ == 0 || now - last_too_large_log_ns_ > 1'000'000'000ULL) {
      last_too_large_log_ns_ = now;
      spdlog::warn("event {} encodes to {} bytes, above the ring's record limit of {} "
                   "(processor.max_event_size): dropped, counted in dropped.capture.too_large",
                   id, flat_message_size(msg), ring_.max_record());
    }
    return false;
  }
  if (queued_ == 0) {
    if (write_message(ring_, msg)) {
      stats_.add(c_written_);
      settle();
      return true;
    }
  }
  std::string rec;
  append_flat_message(msg, rec);
  write_or_queue(id, prio, std::move(rec));
  return true;
}

void CaptureEmitter::write_or_queue(uint64_t id, schema::Priority prio, std::string&& record) {
  auto p = static_cast<unsigned>(prio) & 3;
  if (queued_ >= overflow_limit_ && !evict_below(prio)) {
    // Everything waiting matters at least as much as this event: it is the one dropped.
    stats_.add(c_dropped_overflow_);
    settle();
    return;
  }
  queue_[p].push_back(Pending{id, std::move(record)});
  ++queued_;
}

bool CaptureEmitter::evict_below(schema::Priority prio) {
  for (unsigned p = 0; p < static_cast<unsigned>(prio) && p < 3; ++p) {
    if (!queue_[p].empty()) {
      queue_[p].pop_front();
      --queued_;
      stats_.add(c_dropped_overflow_);
      settle();
      return true;
    }
  }
  return false;
}

bool CaptureEmitter::drain() {
  while (queued_ > 0) {
    // The oldest id across priorities goes first, so the ring stays in id order.
    std::deque<Pending>* best = nullptr;
    for (auto& q : queue_)
      if (!q.empty() && (!best || q.front().id < best->front().id)) best = &q;
    const std::string& rec = best->front().record;
    if (!ring_.try_write({reinterpret_cast<const uint8_t*>(rec.data()), rec.size()})) return false;
    best->pop_front();
    --queued_;
    stats_.add(c_written_);
    settle();
  }
  return true;
}

size_t CaptureEmitter::drop_queued(std::string_view reason) {
  const size_t n = queued_;
  if (n == 0) return 0;
  stats_.add(stats_.counter(fmt::format("dropped.capture.{}", reason)), n);
  settle(n);
  for (auto& q : queue_) q.clear();
  queued_ = 0;
  return n;
}

void CaptureEmitter::report_lost(std::string_view stage, std::string_view reason,
                                 std::string_view event_kind, int cpu, uint64_t count) {
  if (count == 0) return;
  // Events lost before capture saw them count as captured and dropped, so the identity holds.
  size_t c = stats_.counter(fmt::format("dropped.{}.{}", stage, reason));
  stats_.add(c, count);
  stats_.add(c_captured_, count);
  stats_.add(c_lost_records_);
  emit(schema::Priority::CRITICAL, [&](schema::Event::Builder ev) {
    ev.setMonoNs(clock_.mono_ns());
    auto l = ev.initKind().initLost();
    l.setCount(count);
    l.setStage(std::string(stage));
    l.setReason(std::string(reason));
    l.setEventKind(std::string(event_kind));
    l.setCpu(cpu);
  });
}

void CaptureEmitter::flush() {
  stats_.set(c_ring_pos_, ring_.pending_position());
  stats_.heartbeat(clock_.mono_ns());
  stats_.publish();
  ring_.publish();
}

void CaptureEmitter::settle(uint64_t n) {
  stats_.add(c_captured_, n);
  stats_.add(c_ids_settled_, n);
}

void CaptureEmitter::recover(bool queued_events_come_again) {
  // Events a killed predecessor had built (ids issued) but neither written nor dropped were
  // waiting in its overflow queue: gone with it, counted here.
  const uint64_t issued = stats_.get(c_ids_issued_), settled = stats_.get(c_ids_settled_);
  uint64_t lost = 0;
  if (issued > settled && queued_events_come_again) {
    stats_.set(c_ids_settled_, issued);  // made again under new ids: nothing was lost
  } else if (issued > settled) {
    lost = issued - settled;
    stats_.add(stats_.counter("dropped.capture.crash"), lost);
    settle(lost);
    spdlog::warn("{} events waiting in the previous capture process were lost when it died "
                 "(dropped.capture.crash)", lost);
  }
  uint64_t snap = stats_.get(c_ring_pos_);
  if (snap > ring_.published_position()) {
    if (ring_.recover_position(snap))
      spdlog::warn("raw ring: completed a publication interrupted by a crash (position {})", snap);
    else
      spdlog::warn("raw ring: snapshot position {} is not recoverable (published {})", snap,
                   ring_.published_position());
  }
  // A predecessor ran in this pipeline (it issued ids) and the kernel's events of the time in
  // between are gone: say so in the stream, once, before this process's first event.
  if (issued > 0 && !queued_events_come_again && !restart_announced_) {
    restart_announced_ = true;
    stats_.add(c_lost_records_);
    emit(schema::Priority::CRITICAL, [&](schema::Event::Builder ev) {
      ev.setMonoNs(clock_.mono_ns());
      auto l = ev.initKind().initLost();
      l.setCount(lost);
      l.setStage("capture");
      l.setReason("restart");
      l.setEventKind("");
      l.setCpu(-1);
    });
  }
}

}  // namespace ringward::capture
