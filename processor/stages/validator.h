// Stage 1, validation: decodes one record from the "raw" ring (attacker-influenced bytes: HTTP
// payloads, paths, argv, comm) with Cap'n Proto traversal limits and checks every field the later
// stages rely on. Invalid records are counted by reason and sampled (one per reason per interval)
// so the caller can forward a `validation_failure` event: never silently discarded.
// Trust: runs in the sandboxed processor on hostile input; must not crash on any byte string.
#pragma once

#include "common/event_codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "event.capnp.h"

namespace ringward::processor {

// Stable names (metrics labels, validation_failure.reason): never renumber or rename.
enum class ValidationReason : uint8_t {
  kOk = 0,
  kTooLarge,      // record above ValidationConfig::max_record_bytes
  kDecodeError,   // not a Cap'n Proto message, or over the traversal/nesting limits
  kBadTimestamp,  // monoNs zero or in the future, wallNs outside [now - max_age, now + skew]
  kBadPid,        // pid/tid outside 1..pid_max, ppid above pid_max
  kBadComm,       // comm empty, longer than 16 bytes, or NUL inside
  kBadString,     // over its field's length bound, NUL inside a C string, Text not UTF-8
  kUnknownKind,   // union discriminant this build does not know, or a kind not allowed here
  kBadField,      // enum out of range, address length not matching the family, ...
  kCount,
};
inline constexpr size_t kValidationReasonCount = static_cast<size_t>(ValidationReason::kCount);

std::string_view reason_name(ValidationReason reason);

struct ValidationConfig {
  size_t max_record_bytes = 1 << 20;
  // Traversal limit = message words × this factor: validation, detection and encoding each read
  // the message once; a pointer-amplification bomb still stops early.
  uint64_t traversal_factor = 8;
  int nesting_limit = 16;
  uint64_t future_skew_ns = 5'000'000'000ULL;          // clocks read on the same host
  uint64_t max_age_ns = 24ULL * 3600 * 1'000'000'000;  // records replayed after a long outage
  // PID_MAX_LIMIT (4 Mi) until read_pid_max() replaces it; read it before the sandbox.
  uint32_t pid_max = 4u << 20;
  // Per-field length bounds (bytes).
  size_t max_path = 4096;          // PATH_MAX: file paths, exec filename, cwd
  size_t max_arg = 128 * 1024;     // MAX_ARG_STRLEN
  size_t max_argv = 4096;          // argv entries
  size_t max_host = 255;
  size_t max_short_text = 64;      // syscall names, methods, roles, reasons, states
  size_t max_name_text = 1024;     // route, service, business error, encodings
  size_t max_http_target = 8192;
  size_t max_payload = 1024;       // request/response prefix capture cap
  size_t max_rule_ids = 256;
  size_t max_sample = 4096;        // validation_failure.sample
  // Raw-ring input: fields only the processor sets (verdict, score, ruleIds, http route/service/
  // businessError/bodyEncoding) must be absent; a record carrying them is forged (bad_field).
  // Checking presence is also far cheaper than reading them. Set false to validate processor
  // output (the out ring, the disk buffer).
  bool reject_derived_fields = true;
  // Which kinds may arrive on this input (bit i = Event::Which value i). Default: every kind
  // capture emits; validationFailure and endpointHealth are produced by the processor itself, so
  // a record claiming to be one on the raw ring is forged.
  uint32_t allowed_kinds = ~((1u << static_cast<unsigned>(schema::Event::Kind::VALIDATION_FAILURE)) |
                             (1u << static_cast<unsigned>(schema::Event::Kind::ENDPOINT_HEALTH)));
};

// Reads /proc/sys/kernel/pid_max. Call once before the sandbox (no files after it).
std::optional<uint32_t> read_pid_max(const char* path = "/proc/sys/kernel/pid_max");

struct ValidationResult {
  ValidationReason reason = ValidationReason::kOk;
  // Schema field that failed (static string), for logs and samples; "" when ok.
  const char* field = "";
  // Valid, but some byte field (comm, path, argv, payload) is not printable UTF-8: every output
  // must escape it. (Output encoders escape anyway; this lets them skip the scan when false.)
  bool needs_escape = false;
  bool ok() const { return reason == ValidationReason::kOk; }
};

// Owns the decoded message of the record last validated (Cap'n Proto readers point into it).
// Reused across records so the hot path does not allocate.
class DecodedRecord {
 public:
  DecodedRecord() = default;
  DecodedRecord(const DecodedRecord&) = delete;
  DecodedRecord& operator=(const DecodedRecord&) = delete;
  // Only valid after a successful Validator::validate() into this record.
  schema::Event::Reader event() const { return event_; }
  bool has_event() const { return reader_.has_value(); }

 private:
  friend class Validator;
  AlignedBuffer aligned_;  // copy when the ring hands out unaligned bytes
  std::optional<capnp::FlatArrayMessageReader> reader_;
  schema::Event::Reader event_;
};

struct ValidationCounters {
  uint64_t validated = 0;  // events_validated (ok)
  uint64_t invalid = 0;    // events_invalid (sum of by_reason)
  uint64_t needs_escape = 0;
  std::array<uint64_t, kValidationReasonCount> by_reason{};
};

class Validator {
 public:
  Validator(ValidationConfig config, const Clock& clock);

  // Decodes `record` into `out` and validates it. On success out.event() is usable for as long as
  // `record` lives and does not change: an aligned record is read in place (the pipeline hands in
  // its private copy, never shared memory).
  ValidationResult validate(std::span<const std::byte> record, DecodedRecord& out) {
    return validate_at(record, out, clock_.mono_ns(), clock_.wall_ns());
  }
  // Same, judging timestamps against clock readings the caller took once for a whole batch.
  ValidationResult validate_at(std::span<const std::byte> record, DecodedRecord& out,
                               uint64_t now_mono, uint64_t now_wall);
  // Checks an already decoded event (e.g. one built by the processor itself). `now_*` are the
  // clock readings to judge timestamps against. Throws kj::Exception on malformed pointers:
  // validate() catches it, callers of this overload must too.
  ValidationResult check(const schema::Event::Reader& event, uint64_t now_mono, uint64_t now_wall) const;

  const ValidationCounters& counters() const { return counters_; }
  const ValidationConfig& config() const { return config_; }

 private:
  ValidationResult count(ValidationResult result);

  ValidationConfig config_;
  const Clock& clock_;
  ValidationCounters counters_;
};

// One validation_failure sample the caller forwards downstream.
struct ValidationSample {
  ValidationReason reason;
  const char* field;
  uint64_t count;            // failures of this reason this sample stands for
  std::vector<std::byte> prefix;  // first bytes of the offending record
};

// Rate limits samples to one per reason per interval. The first failure of a reason in an
// interval yields a sample at once (count = it plus everything suppressed before); later ones in
// the same interval are only counted and reported by the next sample or by flush_due().
class ValidationSampler {
 public:
  ValidationSampler(const Clock& clock, uint64_t interval_ns = 10'000'000'000ULL,
                    size_t prefix_bytes = 256);

  std::optional<ValidationSample> offer(const ValidationResult& result,
                                        std::span<const std::byte> record);
  // Samples for reasons whose suppressed failures wait and whose interval is over (call on idle).
  std::vector<ValidationSample> flush_due();
  uint64_t samples_emitted() const { return emitted_; }

 private:
  struct Slot {
    bool started = false;
    uint64_t interval_start_ns = 0;
    uint64_t pending = 0;  // failures since the last sample
    const char* last_field = "";
  };
  const Clock& clock_;
  uint64_t interval_ns_;
  size_t prefix_bytes_;
  std::array<Slot, kValidationReasonCount> slots_{};
  uint64_t emitted_ = 0;
};

// Fills `out` as a validation_failure event (priority High: invalid input on the raw ring means a
// broken or attacked capture). `id` comes from the caller's id space for processor events.
void build_validation_failure_event(const ValidationSample& sample, uint64_t id, const Clock& clock,
                                    schema::Event::Builder out);

}  // namespace ringward::processor
