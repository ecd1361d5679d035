#include "processor/pipeline.h"

#include <capnp/message.h>
#include <spdlog/spdlog.h>

namespace ringward::processor {

Pipeline::Pipeline(const ProcessorConfig& cfg, RingReader& in, RingWriter& out, StatsWriter& stats,
                   const Clock& clock)
    : cfg_(cfg),
      in_(in),
      out_(out),
      stats_(stats),
      clock_(clock),
      decoder_(static_cast<size_t>(cfg.max_event_size)) {
  c_in_ = stats_.counter("in");
  c_out_ = stats_.counter("out");
  c_in_pos_ = stats_.counter("in_pos");
  c_generated_ = stats_.counter("generated");
  c_gen_seq_ = stats_.counter("gen_next_seq");
  c_dropped_decode_ = stats_.counter("dropped.processor.invalid_decode_error");
  c_dropped_too_large_ = stats_.counter("dropped.processor.invalid_too_large");
  c_ring_bad_header_ = stats_.counter("ring_in_bad_header");
  c_ring_skipped_ = stats_.counter("ring_in_skipped_bytes");
  c_ring_bad_pos_ = stats_.counter("ring_in_bad_position");
  // Resume after the last snapshot: records before it were fully handled and counted.
  uint64_t snap = stats_.get(c_in_pos_);
  if (snap > in_.position() && !in_.seek(snap))
    spdlog::warn("raw ring: checkpoint position {} is outside the ring's window; resuming at {}",
                 snap, in_.position());
}

std::string Pipeline::enter_sandbox() { return {}; }

void Pipeline::drop(size_t counter) { stats_.add(counter); }

void Pipeline::forward_raw(std::span<const uint8_t> record) {
  // The out ring is the processor's only output: when it is full, wait (the input stays
  // uncommitted, so capture sees the backpressure) rather than lose the event.
  while (!out_.try_write(record)) {
    out_.publish();
    out_.wait_for_space(static_cast<uint32_t>(record.size()), 50'000'000);
  }
  stats_.add(c_out_);
}

void Pipeline::forward(capnp::MessageBuilder& msg) {
  while (!write_message(out_, msg)) {
    out_.publish();
    out_.wait_for_space(static_cast<uint32_t>(flat_message_size(msg)), 50'000'000);
  }
  stats_.add(c_out_);
}

void Pipeline::handle(std::span<const uint8_t> record) {
  stats_.add(c_in_);
  auto ev = decoder_.decode(record);
  if (!ev) {
    drop(decoder_.error() == "too_large" ? c_dropped_too_large_ : c_dropped_decode_);
    return;
  }
  forward_raw(record);
}

void Pipeline::flush() {
  out_.publish();
  const auto& f = in_.faults();
  stats_.set(c_ring_bad_header_, f.bad_header);
  stats_.set(c_ring_skipped_, f.skipped_bytes);
  stats_.set(c_ring_bad_pos_, f.bad_producer_pos);
  stats_.set(c_in_pos_, in_.position());
  stats_.heartbeat(clock_.mono_ns());
  stats_.publish();
  in_.commit();
}

size_t Pipeline::process_batch(size_t max) {
  size_t n = 0;
  while (n < max) {
    auto rec = in_.next();
    if (!rec) break;
    handle(*rec);
    ++n;
  }
  flush();
  return n;
}

void Pipeline::run(const std::function<bool()>& should_stop) {
  while (true) {
    size_t n = process_batch(256);
    if (n == 0) {
      if (should_stop()) break;
      in_.wait(100'000'000);
    }
  }
  spdlog::info("stopped: {} events in, {} out", stats_.get(c_in_), stats_.get(c_out_));
}

}  // namespace ringward::processor
