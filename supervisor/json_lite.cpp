// Recursive-descent JSON parser with hard limits (see json_lite.h). Trust: hostile input.
#include "supervisor/json_lite.h"

#include <cstdlib>

namespace ringward::supervisor {

const JsonValue& JsonValue::operator[](std::string_view key) const {
  static const JsonValue kNull;
  if (type_ != Type::object) return kNull;
  for (const auto& [k, v] : members_)
    if (k == key) return v;
  return kNull;
}

class JsonParser {
 public:
  JsonParser(std::string_view s, const JsonLimits& l) : s_(s), limits_(l) {}

  bool parse(JsonValue& out, std::string& err) {
    if (s_.size() > limits_.max_bytes) return fail(err, "document too large");
    if (!value(out, 0)) return fail(err, error_);
    ws();
    if (pos_ != s_.size()) return fail(err, "trailing characters");
    return true;
  }

 private:
  bool fail(std::string& err, std::string what) {
    err = what + " at offset " + std::to_string(pos_);
    return false;
  }
  bool bad(const char* what) {
    if (error_.empty()) error_ = what;
    return false;
  }
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return bad("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool value(JsonValue& v, unsigned depth) {
    if (depth > limits_.max_depth) return bad("nesting too deep");
    if (++elements_ > limits_.max_elements) return bad("too many elements");
    ws();
    if (pos_ >= s_.size()) return bad("unexpected end");
    char c = s_[pos_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.type_ = JsonValue::Type::string;
      return string(v.text_);
    }
    if (c == 't') { v.type_ = JsonValue::Type::boolean; v.bool_ = true; return literal("true"); }
    if (c == 'f') { v.type_ = JsonValue::Type::boolean; v.bool_ = false; return literal("false"); }
    if (c == 'n') { v.type_ = JsonValue::Type::null; return literal("null"); }
    return number(v);
  }

  bool number(JsonValue& v) {
    size_t start = pos_;
    while (pos_ < s_.size() && std::string_view("+-0123456789.eE").find(s_[pos_]) != std::string_view::npos) ++pos_;
    if (pos_ == start || pos_ - start > 64) return bad("invalid number");
    std::string tmp(s_.substr(start, pos_ - start));
    char* end = nullptr;
    v.number_ = std::strtod(tmp.c_str(), &end);
    if (end != tmp.c_str() + tmp.size()) return bad("invalid number");
    v.type_ = JsonValue::Type::number;
    return true;
  }

  static void utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool string(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return bad("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
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
          if (pos_ + 4 > s_.size()) return bad("short \\u escape");
          uint32_t cp = 0;
          for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= uint32_t(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= uint32_t(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= uint32_t(h - 'A' + 10);
            else return bad("bad \\u escape");
          }
          utf8(cp, out);  // surrogates are kept as-is: the text is only displayed
          break;
        }
        default: return bad("bad escape");
      }
    }
    return bad("unterminated string");
  }

  bool array(JsonValue& v, unsigned depth) {
    v.type_ = JsonValue::Type::array;
    ++pos_;
    ws();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return true; }
    while (true) {
      v.items_.emplace_back();
      if (!value(v.items_.back(), depth + 1)) return false;
      ws();
      if (pos_ >= s_.size()) return bad("unterminated array");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == ']') { ++pos_; return true; }
      return bad("expected , or ]");
    }
  }

  bool object(JsonValue& v, unsigned depth) {
    v.type_ = JsonValue::Type::object;
    ++pos_;
    ws();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return true; }
    while (true) {
      ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return bad("expected a key");
      std::string key;
      if (!string(key)) return false;
      ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return bad("expected :");
      ++pos_;
      v.members_.emplace_back(std::move(key), JsonValue{});
      if (!value(v.members_.back().second, depth + 1)) return false;
      ws();
      if (pos_ >= s_.size()) return bad("unterminated object");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == '}') { ++pos_; return true; }
      return bad("expected , or }");
    }
  }

  std::string_view s_;
  const JsonLimits& limits_;
  size_t pos_ = 0;
  size_t elements_ = 0;
  std::string error_;
};

std::optional<JsonValue> parse_json(std::string_view text, std::string* error, const JsonLimits& limits) {
  JsonValue v;
  std::string err;
  JsonParser p(text, limits);
  if (!p.parse(v, err)) {
    if (error) *error = err;
    return std::nullopt;
  }
  return v;
}

}  // namespace ringward::supervisor
