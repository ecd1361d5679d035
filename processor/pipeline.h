// The processor's pipeline: decode -> validate -> detect -> prioritise -> rate-limit -> shed ->
// forward, each stage counted (in, out, dropped by reason). Counters and the input position are
// published in one snapshot after the outputs and before the input commit, so a processor killed
// at any point neither loses nor double-counts an event: it re-reads what it had not committed,
// and what it had already forwarded reaches the shipper twice and is dropped there as a counted
// duplicate (ids are monotonic per origin).
#pragma once

#include <functional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/event_codec.h"
#include "common/ring.h"
#include "common/stats.h"

namespace ringward::processor {

class Pipeline {
 public:
  Pipeline(const ProcessorConfig& cfg, RingReader& in, RingWriter& out, StatsWriter& stats,
           const Clock& clock);
  // Applies rlimits, no_new_privs and the seccomp allowlist (when enabled). "" on success.
  std::string enter_sandbox();
  // Runs until should_stop() returns true and the input is drained of what is already published.
  void run(const std::function<bool()>& should_stop);
  // Handles every record available now (at most `max`); returns how many were handled.
  size_t process_batch(size_t max);

 private:
  void handle(std::span<const uint8_t> record);
  void forward(capnp::MessageBuilder& msg);
  void forward_raw(std::span<const uint8_t> record);
  void drop(size_t counter);
  void flush();

  const ProcessorConfig& cfg_;
  RingReader& in_;
  RingWriter& out_;
  StatsWriter& stats_;
  const Clock& clock_;
  EventDecoder decoder_;
  size_t c_in_, c_out_, c_in_pos_, c_generated_, c_gen_seq_, c_dropped_decode_, c_dropped_too_large_,
      c_ring_bad_header_, c_ring_skipped_, c_ring_bad_pos_;
};

}  // namespace ringward::processor
