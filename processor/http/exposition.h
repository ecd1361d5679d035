// Text-format helpers shared by the Prometheus and JSON renderers: label-value and JSON string
// escaping, and locale-independent number formatting.
// Trust: inputs may contain any bytes (labels come from hostile traffic, even if normalised); the
// output is always a valid Prometheus label value / JSON string (UTF-8 safe, controls escaped).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringward::http {

// Appends `v` escaped for a Prometheus label value (\\, \", \n); other control bytes and bytes
// >= 0x80 become '_' so the exposition stays valid UTF-8 whatever the input.
void append_label_value(std::string& out, std::string_view v);
// Appends `v` as a quoted JSON string by the rule of common/event_json.h (valid UTF-8 kept,
// controls as \u00XX, other bytes as the text \\xHH).
void append_json_string(std::string& out, std::string_view v);
// Shortest round-trip decimal; "NaN", "+Inf", "-Inf" as Prometheus spells them.
void append_double(std::string& out, double v);
// JSON numbers cannot be NaN/Inf: those become 0.
void append_json_double(std::string& out, double v);
void append_uint(std::string& out, uint64_t v);

}  // namespace ringward::http
