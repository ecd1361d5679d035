// Tolerant scanner of the top-level members of a JSON object held in a (possibly truncated)
// response-body prefix. It does not build a tree: nested values are skipped by bracket counting and
// only their raw text span is kept, so depth costs nothing and nothing recurses.
// Trust: the input is attacker-controlled bytes; every index is bounds-checked, output is capped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringward::http {

enum class JsonKind : uint8_t { kString, kNumber, kTrue, kFalse, kNull, kObject, kArray };

struct JsonMember {
  std::string key;          // unescaped, capped
  JsonKind kind = JsonKind::kNull;
  std::string scalar;       // unescaped string value or number text, capped; empty otherwise
  std::string_view raw;     // raw text of the value as captured (may be cut by truncation)
  bool complete = false;    // the value ended inside the captured bytes
  bool empty_container = false;  // {} or [] (only meaningful when kind is object/array)
};

struct JsonScan {
  bool is_object = false;   // the body starts (after whitespace/BOM) with '{'
  bool truncated = false;   // the body ended before the top-level object closed
  bool malformed = false;   // a syntax error stopped the scan; members before it are kept
  bool members_capped = false;
  std::vector<JsonMember> members;

  const JsonMember* find(std::string_view key) const;
};

struct JsonScanLimits {
  size_t max_members = 64;
  size_t max_key = 64;
  size_t max_scalar = 256;
};

JsonScan scan_json_object(std::string_view body, const JsonScanLimits& limits = {});
// The same into `out`, whose member storage is reused (the processor scans every JSON response).
void scan_json_object(std::string_view body, JsonScan& out, const JsonScanLimits& limits = {});

}  // namespace ringward::http
