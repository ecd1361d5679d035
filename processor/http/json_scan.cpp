// Top-level JSON object scanner for truncated body prefixes. See json_scan.h.
#include "processor/http/json_scan.h"

#include <algorithm>
#include <array>

namespace ringward::http {
namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view in) : in_(in) {}
  bool done() const { return pos_ >= in_.size(); }
  char peek() const { return in_[pos_]; }
  size_t pos() const { return pos_; }
  void advance(size_t n = 1) { pos_ += n; }
  std::string_view from(size_t start) const { return in_.substr(start, pos_ - start); }
  std::string_view rest() const { return in_.substr(pos_); }
  void skip_ws() {
    while (!done() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

enum class Outcome : uint8_t { kOk, kTruncated, kMalformed };

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bytes a JSON string holds as they are: anything but the quote, the backslash and controls.
constexpr auto kStringPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 256; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

// Bytes that change the extent of a skipped container: quotes and brackets.
constexpr auto kStructural = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {'"', '{', '[', '}', ']'}) t[c] = true;
  return t;
}();

// Reads a string whose opening quote is at the cursor. Appends up to `cap` unescaped bytes;
// non-ASCII escapes become '?' (only ASCII matters for the rules applied to these values).
Outcome read_string(Cursor& c, std::string& out, size_t cap) {
  c.advance();  // opening quote
  while (!c.done()) {
    // A run of plain bytes (nearly every string is one) is taken with one append.
    const std::string_view rest = c.rest();
    size_t run = 0;
    while (run < rest.size() && kStringPlain[static_cast<unsigned char>(rest[run])]) ++run;
    if (run > 0) {
      if (out.size() < cap) out.append(rest.data(), std::min(run, cap - out.size()));
      c.advance(run);
      if (c.done()) break;
    }
    const char ch = c.peek();
    if (ch == '"') {
      c.advance();
      return Outcome::kOk;
    }
    if (static_cast<unsigned char>(ch) < 0x20) return Outcome::kMalformed;
    char decoded = ch;
    if (ch == '\\') {
      c.advance();
      if (c.done()) return Outcome::kTruncated;
      switch (c.peek()) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case '/': decoded = '/'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'u': {
          const std::string_view rest = c.rest();
          if (rest.size() < 5) return Outcome::kTruncated;
          int v = 0;
          for (size_t i = 1; i < 5; ++i) {
            const int d = hex_digit(rest[i]);
            if (d < 0) return Outcome::kMalformed;
            v = v * 16 + d;
          }
          decoded = v < 0x80 ? static_cast<char>(v) : '?';
          c.advance(4);
          break;
        }
        default:
          return Outcome::kMalformed;
      }
    }
    if (out.size() < cap) out.push_back(decoded);
    c.advance();
  }
  return Outcome::kTruncated;
}

// Skips an object or array whose opening bracket is at the cursor. Bracket kinds are not matched
// against each other (a tolerant scan only needs the extent), but depth never goes negative.
Outcome skip_container(Cursor& c, bool& empty) {
  size_t depth = 0;
  bool first = true;
  empty = false;
  while (!c.done()) {
    const char ch = c.peek();
    if (ch == '"') {
      std::string ignored;  // capacity 0: nothing is kept
      const Outcome o = read_string(c, ignored, 0);
      if (o != Outcome::kOk) return o;
      first = false;
      continue;
    }
    if (ch == '{' || ch == '[') {
      ++depth;
    } else if (ch == '}' || ch == ']') {
      if (depth == 0) return Outcome::kMalformed;
      --depth;
      if (depth == 0) {
        empty = first;
        c.advance();
        return Outcome::kOk;
      }
    } else if (depth == 1 && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
      first = false;
    }
    if (depth > 1) first = false;
    c.advance();
    if (!first) {
      // Only quotes and brackets matter from here on: skip the bytes between them at once.
      const std::string_view rest = c.rest();
      size_t run = 0;
      while (run < rest.size() && !kStructural[static_cast<unsigned char>(rest[run])]) ++run;
      c.advance(run);
    }
  }
  return Outcome::kTruncated;
}

Outcome read_literal(Cursor& c, std::string_view word) {
  const std::string_view rest = c.rest();
  const size_t n = rest.size() < word.size() ? rest.size() : word.size();
  if (rest.substr(0, n) != word.substr(0, n)) return Outcome::kMalformed;
  c.advance(n);
  return n < word.size() ? Outcome::kTruncated : Outcome::kOk;
}

Outcome read_number(Cursor& c, std::string& out, size_t cap) {
  const size_t start = c.pos();
  while (!c.done()) {
    const char ch = c.peek();
    if ((ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E') {
      c.advance();
    } else {
      break;
    }
  }
  const std::string_view text = c.from(start);
  out.assign(text.substr(0, text.size() < cap ? text.size() : cap));
  return c.done() ? Outcome::kTruncated : Outcome::kOk;
}

Outcome read_value(Cursor& c, JsonMember& m, const JsonScanLimits& limits) {
  const char ch = c.peek();
  switch (ch) {
    case '"':
      m.kind = JsonKind::kString;
      return read_string(c, m.scalar, limits.max_scalar);
    case '{':
    case '[':
      m.kind = ch == '{' ? JsonKind::kObject : JsonKind::kArray;
      return skip_container(c, m.empty_container);
    case 't':
      m.kind = JsonKind::kTrue;
      return read_literal(c, "true");
    case 'f':
      m.kind = JsonKind::kFalse;
      return read_literal(c, "false");
    case 'n':
      m.kind = JsonKind::kNull;
      return read_literal(c, "null");
    default:
      if (ch == '-' || (ch >= '0' && ch <= '9')) {
        m.kind = JsonKind::kNumber;
        return read_number(c, m.scalar, limits.max_scalar);
      }
      return Outcome::kMalformed;
  }
}

}  // namespace

const JsonMember* JsonScan::find(std::string_view key) const {
  for (const JsonMember& m : members) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

JsonScan scan_json_object(std::string_view body, const JsonScanLimits& limits) {
  JsonScan out;
  scan_json_object(body, out, limits);
  return out;
}

void scan_json_object(std::string_view body, JsonScan& out, const JsonScanLimits& limits) {
  out.is_object = out.truncated = out.malformed = out.members_capped = false;
  out.members.clear();
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  Cursor c(body);
  c.skip_ws();
  if (c.done() || c.peek() != '{') return;
  out.is_object = true;
  c.advance();
  auto stop = [&out](Outcome o) {
    if (o == Outcome::kTruncated) out.truncated = true;
    if (o == Outcome::kMalformed) out.malformed = true;
  };
  while (true) {
    c.skip_ws();
    if (c.done()) return stop(Outcome::kTruncated);
    if (c.peek() == '}') return;
    if (c.peek() != '"') return stop(Outcome::kMalformed);
    JsonMember m;
    Outcome o = read_string(c, m.key, limits.max_key);
    if (o != Outcome::kOk) return stop(o);
    c.skip_ws();
    if (c.done()) return stop(Outcome::kTruncated);
    if (c.peek() != ':') return stop(Outcome::kMalformed);
    c.advance();
    c.skip_ws();
    if (c.done()) return stop(Outcome::kTruncated);
    const size_t start = c.pos();
    o = read_value(c, m, limits);
    m.raw = c.from(start);
    m.complete = o == Outcome::kOk;
    if (o == Outcome::kMalformed) return stop(o);
    if (out.members.size() >= limits.max_members) {
      out.members_capped = true;
      return;
    }
    out.members.push_back(std::move(m));
    if (o == Outcome::kTruncated) return stop(o);
    c.skip_ws();
    if (c.done()) return stop(Outcome::kTruncated);
    if (c.peek() == ',') {
      c.advance();
      continue;
    }
    if (c.peek() == '}') return;
    return stop(Outcome::kMalformed);
  }
}

}  // namespace ringward::http
