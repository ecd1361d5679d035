// The processor's pipeline: validate -> detect -> HTTP semantics -> prioritise -> rate-limit ->
// shed -> forward, each stage counted (in, out, dropped by reason). Counters and the input
// position are published in one snapshot after the outputs and before the input commit, so a
// processor killed at any point neither loses nor double-counts an event: it re-reads what it had
// not committed, and what it had already forwarded reaches the shipper twice and is dropped there
// as a counted duplicate (ids are monotonic per origin).
//
// Trust: this is the process that parses attacker-controlled bytes. Everything that needs a file
// (rules, pid_max, /proc/self/statm) is opened in the constructor; enter_sandbox() then removes
// every way out before the first record is read.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/event_codec.h"
#include "common/ring.h"
#include "common/stats.h"
#include "processor/detect/engine.h"
#include "processor/http/analyzer.h"
#include "processor/stages/circuit_breaker.h"
#include "processor/stages/load_shedder.h"
#include "processor/stages/resource_monitor.h"
#include "processor/stages/token_bucket.h"
#include "processor/stages/validator.h"

namespace ringward::processor {

class Pipeline {
 public:
  // Throws std::runtime_error when the rules or /proc cannot be loaded (the process exits 1).
  Pipeline(const ProcessorConfig& cfg, RingReader& in, RingWriter& out, StatsWriter& stats,
           const Clock& clock);
  // Applies rlimits, capability drop, no_new_privs and the seccomp allowlist (when enabled).
  // "" on success.
  std::string enter_sandbox();
  // Runs until should_stop() returns true and the published input is drained.
  void run(const std::function<bool()>& should_stop);
  // Handles every record available now (at most `max`); returns how many were handled.
  size_t process_batch(size_t max);
  // Periodic work: resource sample, health reports, metrics text. Called about once a second.
  void tick();

 private:
  void handle(std::span<const uint8_t> record, uint64_t now_mono, uint64_t now_wall);
  void forward(capnp::MessageBuilder& msg);
  void forward_raw(std::span<const uint8_t> record);
  void generate(const std::function<void(schema::Event::Builder)>& fill);
  void sample_invalid(ValidationReason reason, std::span<const uint8_t> record);
  void flush();
  void publish_metrics();

  const ProcessorConfig& cfg_;
  RingReader& in_;
  RingWriter& out_;
  StatsWriter& stats_;
  const Clock& clock_;
  Validator validator_;
  DecodedRecord decoded_;
  AlignedBuffer private_copy_;
  // First segment of the builder of each re-written event (zeroed; the builder zeroes what it
  // used when it goes): no allocation and no zero-fill of a fresh segment per event.
  kj::Array<capnp::word> out_segment_;
  detect::Engine engine_;
  http::HttpConfig http_cfg_;
  http::HttpAnalyzer http_;
  TokenBucket bucket_;
  LoadShedder shedder_;
  CircuitBreaker breaker_;
  std::optional<ResourceMonitor> monitor_;
  std::vector<detect::Finding> findings_;
  std::string host_;
  uint64_t last_tick_ns_ = 0;
  struct Sample {
    uint64_t count = 0;
    uint64_t last_sent_ns = 0;
  };
  std::array<Sample, kValidationReasonCount> samples_{};

  size_t c_in_, c_out_, c_in_pos_, c_generated_, c_gen_seq_, c_gen_epoch_, c_security_, c_bypassed_,
      c_rate_limited_, c_shed_, c_ring_bad_header_, c_ring_skipped_, c_ring_bad_pos_, c_validated_,
      c_invalid_, c_over_limit_, c_out_full_waits_, c_malformed_;
  std::array<size_t, kValidationReasonCount> c_invalid_reason_{};
};

}  // namespace ringward::processor
