// Bounded JSON reader (see json.h). Trust: every input is untrusted.
#include "common/json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace ringward::json {

const JsonValue* JsonValue::get(std::string_view key) const {
  if (type != Type::object) return nullptr;
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  static const JsonValue kNull;
  const JsonValue* v = get(key);
  return v ? *v : kNull;
}

std::optional<int64_t> JsonValue::as_int() const {
  if (type != Type::number && type != Type::string) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

namespace {

class Parser {
 public:
  Parser(std::string_view s, size_t pos, const JsonLimits& lim) : s_(s), pos_(pos), lim_(lim) {}

  std::optional<JsonValue> value(size_t depth) {
    if (depth > lim_.max_depth) return fail("nesting deeper than limit");
    if (++elements_ > lim_.max_elements) return fail("too many elements");
    skip_ws();
    if (pos_ >= s_.size()) return fail("unexpected end");
    char c = s_[pos_];
    JsonValue v;
    if (c == '{') {
      v.type = JsonValue::Type::object;
      ++pos_;
      skip_ws();
      if (peek('}')) { ++pos_; return v; }
      for (;;) {
        skip_ws();
        if (!peek('"')) return fail("expected member name");
        auto key = string_lit();
        if (!key) return std::nullopt;
        skip_ws();
        if (!peek(':')) return fail("expected ':'");
        ++pos_;
        auto member = value(depth + 1);
        if (!member) return std::nullopt;
        v.members.push_back(JsonMember{std::move(*key), std::move(*member)});
        skip_ws();
        if (peek(',')) { ++pos_; continue; }
        if (peek('}')) { ++pos_; return v; }
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = JsonValue::Type::array;
      ++pos_;
      skip_ws();
      if (peek(']')) { ++pos_; return v; }
      for (;;) {
        auto item = value(depth + 1);
        if (!item) return std::nullopt;
        v.items.push_back(std::move(*item));
        skip_ws();
        if (peek(',')) { ++pos_; continue; }
        if (peek(']')) { ++pos_; return v; }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      auto str = string_lit();
      if (!str) return std::nullopt;
      v.type = JsonValue::Type::string;
      v.text = std::move(*str);
      return v;
    }
    if (literal("true")) { v.type = JsonValue::Type::boolean; v.boolean = true; return v; }
    if (literal("false")) { v.type = JsonValue::Type::boolean; return v; }
    if (literal("null")) return v;
    return number();
  }

  size_t pos() const { return pos_; }
  const std::string& error() const { return error_; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

 private:
  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool literal(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  std::nullopt_t fail(const char* what) {
    if (error_.empty()) error_ = std::string(what) + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }
  std::optional<JsonValue> number() {
    size_t start = pos_;
    if (peek('-')) ++pos_;
    size_t digits = pos_;
    while (pos_ < s_.size() && ((s_[pos_] >= '0' && s_[pos_] <= '9') || s_[pos_] == '.' || s_[pos_] == 'e' ||
                                s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-'))
      ++pos_;
    if (pos_ == digits) return fail("unexpected character");
    JsonValue v;
    v.type = JsonValue::Type::number;
    v.text = std::string(s_.substr(start, pos_ - start));
    char* end = nullptr;
    v.number = std::strtod(v.text.c_str(), &end);
    if (end != v.text.c_str() + v.text.size() || !std::isfinite(v.number)) return fail("bad number");
    return v;
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::optional<uint32_t> hex4() {
    if (pos_ + 4 > s_.size()) return std::nullopt;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return std::nullopt;
    }
    return v;
  }
  std::optional<std::string> string_lit() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto cp = hex4();
          if (!cp) return fail("bad \\u escape");
          if (*cp >= 0xD800 && *cp < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            auto lo = hex4();
            if (!lo || *lo < 0xDC00 || *lo > 0xDFFF) return fail("bad surrogate pair");
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*lo - 0xDC00);
          }
          put_utf8(out, *cp);
          break;
        }
        default: return fail("bad escape");
      }
    }
    return fail("unterminated string");
  }

  std::string_view s_;
  size_t pos_;
  const JsonLimits& lim_;
  size_t elements_ = 0;
  std::string error_;
};

}  // namespace

std::optional<JsonValue> parse_json_value(std::string_view text, size_t& pos, std::string* error,
                                          const JsonLimits& limits) {
  Parser p(text, pos, limits);
  auto v = p.value(0);
  if (!v) {
    if (error) *error = p.error();
    return std::nullopt;
  }
  pos = p.pos();
  return v;
}

std::optional<JsonValue> parse_json(std::string_view text, std::string* error, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    if (error) *error = "document of " + std::to_string(text.size()) + " bytes is over the limit";
    return std::nullopt;
  }
  size_t pos = 0;
  auto v = parse_json_value(text, pos, error, limits);
  if (!v) return v;
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t')) ++pos;
  if (pos != text.size()) {
    if (error) *error = "trailing data at offset " + std::to_string(pos);
    return std::nullopt;
  }
  return v;
}


}  // namespace ringward::json
