// A small, bounded JSON reader for the status blobs the children publish in their statistics pages
// (shipper: sinks and buffer; processor: backpressure level, breaker) and for ringwardctl. Trust:
// the input is hostile (a compromised processor writes its own page), so depth, size and element
// counts are capped and a parse failure is a value, never an exception.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringward::supervisor {

class JsonValue {
 public:
  enum class Type { null, boolean, number, string, array, object };

  Type type() const { return type_; }
  bool is_object() const { return type_ == Type::object; }
  bool is_array() const { return type_ == Type::array; }

  // Member lookup; a shared null value when absent or not an object.
  const JsonValue& operator[](std::string_view key) const;
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }

  std::string str(std::string_view dflt = "") const { return type_ == Type::string ? text_ : std::string(dflt); }
  double num(double dflt = 0) const { return type_ == Type::number ? number_ : dflt; }
  bool boolean(bool dflt = false) const { return type_ == Type::boolean ? bool_ : dflt; }

 private:
  friend class JsonParser;
  Type type_ = Type::null;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

struct JsonLimits {
  size_t max_bytes = 256 * 1024;
  unsigned max_depth = 16;
  size_t max_elements = 20000;  // values in the whole document
};

// nullopt (with `error` set) on malformed input or when a limit is exceeded.
std::optional<JsonValue> parse_json(std::string_view text, std::string* error = nullptr,
                                    const JsonLimits& limits = {});

}  // namespace ringward::supervisor
