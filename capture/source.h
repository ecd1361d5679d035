// The interface between an event source (synthetic or eBPF) and capture's emitter, which stamps
// ids, encodes into the raw ring and applies capture's drop-lowest-priority-first policy.
// Trust: runs inside the capture process (privileged until its source is attached).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <kj/function.h>

#include "event.capnp.h"

namespace ringward::capture {

class Emitter {
 public:
  virtual ~Emitter() = default;
  // Builds one event. The emitter sets id, host and `priority` first; `fill` then sets the
  // envelope (monoNs, pid, tid, threadStartNs, ppid, uid, euid, gid, comm, cgroupId, parentComm)
  // and the kind, and may
  // raise the priority. wallNs is derived from monoNs when fill leaves it 0. Returns false when the
  // event was dropped by capture's policy (already counted).
  virtual bool emit(schema::Priority priority,
                    kj::FunctionParam<void(schema::Event::Builder)> fill) = 0;
  // Loss the source observed before an event existed (e.g. kernel ring-buffer reservation
  // failures); counted as dropped{"<stage>.<reason>"} and announced in-band as a `lost` record.
  virtual void report_lost(std::string_view stage, std::string_view reason,
                           std::string_view event_kind, int cpu, uint64_t count) = 0;
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Moves events into `out` for at most `budget`; returns false once the source is exhausted
  // (a synthetic source that reached its count). Must not block longer than `budget`.
  virtual bool pump(Emitter& out, std::chrono::milliseconds budget) = 0;
  // The last call before the source is destroyed, after the last pump: hand over what is left
  // with no later chance (losses held back for ordering, say). Must not block for long.
  virtual void finish(Emitter&) {}
  // Names of optional hooks that are active (e.g. "uprobe:libssl", "tracepoint:openat2").
  virtual std::vector<std::string> active_hooks() const { return {}; }
};

}  // namespace ringward::capture
