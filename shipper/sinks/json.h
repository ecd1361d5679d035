// JSON for the sinks: the reader is common/json.h (one bounded reader for all of ringward); the
// writer keeps the sinks' argument order and uses the one escaping rule of common/event_json.h.
#pragma once

#include <string>
#include <string_view>

#include "common/json.h"

namespace ringward::shipper::sinks {

using json::JsonLimits;
using json::JsonValue;
using json::parse_json;
using json::parse_json_value;

// Appends `s` as a JSON string literal (invalid UTF-8 bytes become the text \\xHH).
void append_json_string(std::string& out, std::string_view s);

}  // namespace ringward::shipper::sinks
