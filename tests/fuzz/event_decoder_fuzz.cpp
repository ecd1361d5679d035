// libFuzzer target: what every reader of an event record does with hostile bytes. The
// processor's Validator (raw-ring rules, and out-ring rules where derived fields are allowed)
// and the shipper's path: EventDecoder::decode, then rendering the whole event as JSON. Any
// record the decoder or the validator accepts must be fully readable: an exception or a crash
// while rendering an accepted event is a bug (the shipper would crash on it and, since it
// re-reads uncommitted records after a restart, crash again).
// Build: tests/fuzz/meson.build (-Dfuzz=true with clang); scripts/fuzz.sh runs it.
// Corpus: tests/fuzz/corpus/event_decoder (real raw- and out-ring records).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "common/clock.h"
#include "common/event_codec.h"
#include "common/event_json.h"
#include "processor/stages/validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Timestamps in the seeds are from 2026; judge them against a clock near them.
  static ringward::ManualClock clock(1'000'000'000ULL, 1'795'000'000'000'000'000ULL);
  std::span<const uint8_t> rec(data, size);

  // Shipper path: decode, then render every field. Must not throw for an accepted record.
  ringward::EventDecoder decoder(1 << 20);
  if (auto ev = decoder.decode(rec)) {
    // Rendering never throws: a record malformed deep inside is refused (false, nothing written).
    std::string json;
    if (ringward::append_event_json(*ev, json) &&
        (json.empty() || json.front() != '{' || json.back() != '}'))
      std::abort();
  }

  // Processor path, raw-ring rules and out-ring rules.
  for (bool raw_rules : {true, false}) {
    ringward::processor::ValidationConfig cfg;
    cfg.reject_derived_fields = raw_rules;
    cfg.max_age_ns = ~uint64_t{0} / 4;
    ringward::processor::Validator v(cfg, clock);
    ringward::processor::DecodedRecord out;
    auto res = v.validate(std::as_bytes(rec), out);
    if (res.ok()) {
      std::string json;
      if (ringward::append_event_json(out.event(), json) && json.empty()) std::abort();
    }
  }
  return 0;
}
