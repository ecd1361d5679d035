// Decoding an OutEvent's Cap'n Proto record for the network sinks: an aligned copy read with a
// bounded traversal limit, plus the names (kind, priority, verdict) the sinks index on. Trust: the
// record came from the processor, which may be compromised: every read may throw kj::Exception on
// a corrupt pointer, so callers go through with_event(), which turns that into an error value.
#pragma once

#include <capnp/serialize.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "event.capnp.h"
#include "shipper/core/sink.h"

namespace ringward::shipper::sinks {

// Read limit per record: generous for a ~1-2 KiB event, small enough that a hostile record
// with cyclic or amplified pointers costs bounded work.
inline constexpr uint64_t kEventTraversalWords = 64 * 1024;

std::string_view priority_name(schema::Priority p);
std::string_view verdict_name(schema::Verdict v);
std::string_view kind_name(schema::Event::Reader e);

// The event as one JSON object (common/event_json.h's append_event_json when the tree has it).
void append_event_json_object(schema::Event::Reader e, std::string& out);

// Runs fn(reader) on the decoded record. Returns an error message when the record cannot be
// decoded or fn hit a corrupt pointer (kj::Exception); fn's partial output is the caller's to drop.
template <typename Fn>
std::optional<std::string> with_event(const OutEvent& ev, Fn&& fn);

namespace detail {
class RecordReader {
 public:
  explicit RecordReader(std::string_view bytes);
  schema::Event::Reader root();

 private:
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};
std::string describe_current_exception();
}  // namespace detail

template <typename Fn>
std::optional<std::string> with_event(const OutEvent& ev, Fn&& fn) {
  if (ev.record.empty() || ev.record.size() % sizeof(capnp::word) != 0) {
    return "record size " + std::to_string(ev.record.size()) + " is not a whole number of words";
  }
  try {
    detail::RecordReader r(ev.record);
    fn(r.root());
    return std::nullopt;
  } catch (...) {
    return detail::describe_current_exception();
  }
}

}  // namespace ringward::shipper::sinks
