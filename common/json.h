// The one bounded JSON reader of ringward: the shipper's sinks parse peers' answers with it (HEC
// codes, ack maps, OTLP partial success) and the supervisor parses the children's status JSON
// (a compromised processor writes its own). Every input is untrusted: the reader caps size, depth
// and element counts and never throws.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringward::json {

struct JsonMember;

struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string text;  // string value, or the literal text of a number (exact 64-bit integers)
  std::vector<JsonValue> items;
  // A vector of an incomplete type is fine (C++17); a std::pair of one is not for every compiler.
  std::vector<JsonMember> members;  // in document order

  const JsonValue* get(std::string_view key) const;  // first member with this key, or nullptr
  // Lookups that never fail: a shared null value when absent or not an object.
  const JsonValue& operator[](std::string_view key) const;
  std::string str(std::string_view dflt = "") const { return type == Type::string ? text : std::string(dflt); }
  double num(double dflt = 0) const { return type == Type::number ? number : dflt; }
  bool flag(bool dflt = false) const { return type == Type::boolean ? boolean : dflt; }
  bool is_array() const { return type == Type::array; }
  std::optional<int64_t> as_int() const;             // integral numbers (also "123" strings)
  bool is_object() const { return type == Type::object; }
};

struct JsonMember {
  std::string first;  // the key
  JsonValue second;   // the value
};

struct JsonLimits {
  size_t max_bytes = 64 << 20;  // whole documents larger than this are refused unread
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


}  // namespace ringward::json
