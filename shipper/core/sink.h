// The contract between the shipper's delivery engine and each sink (file, Splunk HEC, OTLP/HTTP,
// NATS JetStream). Trust: shipper process (the only one with network).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event.capnp.h"

namespace ringward::shipper {

// One event as the shipper holds it: the Cap'n Proto record (the same bytes as in the ring and the
// disk buffer) plus what delivery needs without decoding.
struct OutEvent {
  uint64_t id = 0;
  schema::Priority priority = schema::Priority::NORMAL;
  uint64_t wall_ns = 0;
  std::string record;  // flat (unpacked) Cap'n Proto message, 8-byte aligned when copied out
};

enum class SendStatus {
  ok,         // every event acknowledged (minus `rejected`, which go to the DLQ)
  retry,      // transient: retry the whole batch later (503, 429, timeout, disconnect)
  permanent,  // the whole batch can never be accepted as is (bad token, 4xx): split/DLQ
};
// How the network sinks (shipper/sinks/) fill `rejected` with each status:
// - ok + rejected: those events are refused for good (DLQ them); all others are stored.
// - retry + rejected: those events are refused for good (undecodable record, JetStream "message
//   too large"); the others need a resend. Resending the whole batch is safe: the refused ones are
//   refused again and reported once the rest is stored.
// - permanent + rejected: a hint naming the event(s) that made the peer refuse the whole request
//   (HEC code 6 with invalid-event-number). None of the batch was taken: DLQ the named ones and
//   resend the rest, or bisect; alone in a request the bad event comes back as ok + rejected.
// - permanent without rejected and more than one event: split to find the cause. OTLP partial
//   success with some but not all records refused is reported this way, because OTLP does not
//   say which ones; the stored ones may then be delivered twice.
// An ambiguous outcome (timeout after sending, HEC indexer ack not confirmed in time) is retry:
// at-least-once; JetStream de-duplicates the resend by Nats-Msg-Id, HEC and OTLP cannot.

struct Rejection {
  size_t index = 0;  // index into the batch
  int status = 0;    // protocol status code (HTTP status, HEC code, ...)
  std::string reason;
};

struct SendResult {
  SendStatus status = SendStatus::ok;
  int protocol_status = 0;  // HTTP status or equivalent, 0 when none (e.g. connection error)
  std::optional<std::chrono::milliseconds> retry_after;  // server asked for at least this delay
  bool backpressure = false;  // 429, X-Backpressure: true, {"status":"BACKPRESSURE"}, closed conn
  std::vector<Rejection> rejected;  // events permanently refused inside an otherwise ok batch
  uint64_t duplicates = 0;          // events the peer reported as already stored
  std::string detail;               // human-readable, for logs and /stats
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string_view name() const = 0;  // "file", "splunk_hec:<endpoint>", ...
  // Delivers one batch synchronously, bounded by the sink's own timeouts. "ok" means the peer
  // acknowledged durably as far as the protocol allows (HEC indexer ack, JetStream PubAck).
  virtual SendResult send(std::span<const OutEvent> batch) = 0;
  // How many send() calls may run at once from different threads (the delivery engine's adaptive
  // concurrency never exceeds it). 1 means send() is only ever called from one thread at a time.
  virtual size_t max_concurrency() const { return 1; }
};

}  // namespace ringward::shipper
