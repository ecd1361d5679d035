// Text-format helpers. See exposition.h.
#include "processor/http/exposition.h"

#include "common/event_json.h"

#include <charconv>
#include <cmath>

namespace ringward::http {

void append_label_value(std::string& out, std::string_view v) {
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += '_';
    } else {
      out += ch;
    }
  }
}

void append_json_string(std::string& out, std::string_view v) {
  // One escaping rule for every JSON ringward writes (common/event_json.h).
  ringward::append_json_string(v, out);
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_json_double(std::string& out, double v) {
  append_double(out, std::isfinite(v) ? v : 0.0);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

}  // namespace ringward::http
