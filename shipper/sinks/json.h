// Small JSON toolkit for the sinks: a bounded reader for the answers peers send back (HEC codes,
// ack maps, OTLP partial success) and writers for the JSON the sinks emit. Trust: shipper; every
// byte a peer answers is untrusted, so the reader caps depth, size and element counts and never
// throws.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringward::shipper::sinks {

struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string text;  // string value, or the literal text of a number (exact 64-bit integers)
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;  // in document order

  const JsonValue* get(std::string_view key) const;  // first member with this key, or nullptr
  std::optional<int64_t> as_int() const;             // integral numbers (also "123" strings)
  bool is_object() const { return type == Type::object; }
};

struct JsonLimits {
  size_t max_depth = 32;
  size_t max_elements = 1'000'000;  // values of all kinds in one document
};

// Parses one JSON value starting at `pos` (leading whitespace skipped) and advances `pos` past it.
// Returns nullopt on malformed or over-limit input; `error` then says what and where.
std::optional<JsonValue> parse_json_value(std::string_view text, size_t& pos, std::string* error = nullptr,
                                          const JsonLimits& limits = {});
// Parses a whole document: exactly one value, nothing but whitespace after it.
std::optional<JsonValue> parse_json(std::string_view text, std::string* error = nullptr,
                                    const JsonLimits& limits = {});

// Appends `s` as a JSON string literal. Invalid UTF-8 bytes become U+FFFD so the output is always
// valid JSON whatever the bytes were (event fields come from hostile processes).
void append_json_string(std::string& out, std::string_view s);

}  // namespace ringward::shipper::sinks
