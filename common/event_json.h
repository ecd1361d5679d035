// Renders an event as one JSON object (the NDJSON line format and the `event` body of network
// sinks). Bytes from the kernel are arbitrary: valid UTF-8 is kept, control characters are escaped,
// and each byte of an invalid UTF-8 sequence is written as the six characters \\xHH (so the JSON is
// always valid and the original bytes recoverable). Trust: shipper; input already validated by the
// processor but rendered defensively anyway.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <capnp/common.h>
#include <kj/array.h>

#include "event.capnp.h"

namespace ringward {

// Appends the event as one JSON object and returns true. A record can pass decoding and still be
// malformed deep inside (Cap'n Proto checks pointer kinds only when a field is read, e.g. a struct
// where text belongs): then nothing is appended and it returns false; the caller counts the record
// as invalid or dead-letters it. Never throws.
[[nodiscard]] bool append_event_json(schema::Event::Reader ev, std::string& out);
// The JSON object, or "" for a malformed record (see append_event_json).
std::string event_to_json(schema::Event::Reader ev);

// JSON string escaping of arbitrary bytes as described above (appends the quotes too).
void append_json_string(std::string_view bytes, std::string& out);

// Stable names used in every output: "process_exec", ..., and "low".."critical".
std::string_view event_type_name(schema::Event::Reader ev);
std::string_view priority_name(schema::Priority p);
std::string_view verdict_name(schema::Verdict v);

// "2026-11-23T13:30:02.123456789Z"
std::string format_rfc3339_ns(uint64_t wall_ns);
// "10.0.0.1" / "::1" from 4 or 16 network-order bytes; "" for anything else.
std::string format_address(capnp::Data::Reader addr);

}  // namespace ringward
