// The sinks' JSON string writer: the one escaping rule of common/event_json.h.
#include "shipper/sinks/json.h"

#include "common/event_json.h"

namespace ringward::shipper::sinks {

void append_json_string(std::string& out, std::string_view s) { ringward::append_json_string(s, out); }

}  // namespace ringward::shipper::sinks
