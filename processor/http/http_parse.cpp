// HTTP/1.x parser for captured, possibly truncated, attacker-controlled buffers. See http_parse.h.
// Design: a cursor over a string_view; each step either consumes a complete syntactic unit, reports
// "need more bytes" (truncation) or reports a Malformed reason. Nothing is read past the view.
#include "processor/http/http_parse.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ringward::http {
namespace {

constexpr uint64_t kMaxContentLength = 1ULL << 53;

enum class Step : uint8_t { kOk, kTruncated, kMalformed };

// Byte classes of RFC 9110, as tables: header parsing runs on every captured exchange.
constexpr auto kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') ||
                                std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                    std::string_view::npos;
  }
  return t;
}();
// Field-value bytes: anything but NUL, other controls (HT is allowed) and DEL.
constexpr auto kValueByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = (c >= 0x20 || c == '\t') && c != 0x7f;
  return t;
}();

inline bool is_tchar(unsigned char c) { return kTchar[c]; }

// Every byte a field-value byte (kValueByte). Eight bytes at a time: a word with no byte below
// 0x20 and none equal to 0x7f is all valid (bytes >= 0x80 are obs-text, allowed); any other word
// is judged byte by byte (HT is a control byte that is allowed).
bool valid_field_value(std::string_view v) {
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const char* p = v.data();
  const size_t n = v.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    // A byte below 0x20: (x - 0x20..) borrows into its high bit while its own high bit is clear.
    const uint64_t below = (x - k01 * 0x20) & ~x & k80;
    const uint64_t del = x ^ (k01 * 0x7f);
    const uint64_t is_del = (del - k01) & ~del & k80;
    if ((below | is_del) == 0) continue;
    for (size_t j = i; j < i + 8; ++j)
      if (!kValueByte[static_cast<unsigned char>(p[j])]) return false;
  }
  for (; i < n; ++i)
    if (!kValueByte[static_cast<unsigned char>(p[i])]) return false;
  return true;
}

// Case-insensitive comparison of a token with a lower-case name of letters and '-': OR-ing 0x20
// lower-cases a letter and maps no other byte onto a letter or '-' except CR (0x0D -> '-'), which
// never reaches here (take_line refuses a bare CR; header names are tchars).
inline bool token_is(std::string_view token, std::string_view lower_name) {
  if (token.size() != lower_name.size()) return false;
  for (size_t i = 0; i < token.size(); ++i) {
    if ((static_cast<unsigned char>(token[i]) | 0x20) != static_cast<unsigned char>(lower_name[i])) return false;
  }
  return true;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Index of the first CR or LF at or after `pos`, or npos. One pass, eight bytes at a time:
// header lines are short, and this replaces two memchr calls per line.
size_t find_eol(std::string_view in, size_t pos) {
  static_assert(std::endian::native == std::endian::little, "the byte index assumes little-endian");
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const char* p = in.data();
  const size_t n = in.size();
  size_t i = pos;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    const uint64_t cr = x ^ (k01 * '\r'), lf = x ^ (k01 * '\n');
    // High bit set in each zero byte of cr or lf; a borrow can only mark bytes above the first
    // true zero, so the lowest mark is exact.
    const uint64_t hit = ((cr - k01) & ~cr & k80) | ((lf - k01) & ~lf & k80);
    if (hit != 0) return i + static_cast<size_t>(std::countr_zero(hit) >> 3);
  }
  for (; i < n; ++i) {
    if (p[i] == '\r' || p[i] == '\n') return i;
  }
  return std::string_view::npos;
}

// Finds the end of the line starting at `pos`. On success `line` excludes the terminator (CRLF or
// a bare LF, which real servers tolerate) and `next` is the first byte after it. A CR that is not
// followed by LF is a request-smuggling vector: refused (a CR at the very end of the captured
// bytes may still be followed by LF, so that is truncation).
Step take_line(std::string_view in, size_t pos, std::string_view& line, size_t& next) {
  const size_t eol = find_eol(in, pos);
  if (eol == std::string_view::npos) return Step::kTruncated;
  line = in.substr(pos, eol - pos);
  if (in[eol] == '\n') {
    next = eol + 1;
    return Step::kOk;
  }
  if (eol + 1 == in.size()) return Step::kTruncated;
  if (in[eol + 1] != '\n') return Step::kMalformed;
  next = eol + 2;
  return Step::kOk;
}

bool parse_decimal(std::string_view s, uint64_t limit, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > limit) return false;
  out = v;
  return true;
}

ContentCoding coding_from_token(std::string_view token) {
  token = trim_ows(token);
  if (token.empty() || iequals(token, "identity")) return ContentCoding::kIdentity;
  if (iequals(token, "gzip") || iequals(token, "x-gzip")) return ContentCoding::kGzip;
  if (iequals(token, "deflate")) return ContentCoding::kDeflate;
  if (iequals(token, "br")) return ContentCoding::kBr;
  if (iequals(token, "zstd")) return ContentCoding::kZstd;
  if (iequals(token, "compress") || iequals(token, "x-compress")) return ContentCoding::kCompress;
  return ContentCoding::kOther;
}

// Parses the header block starting at `pos` up to and including the blank line.
Step parse_headers(std::string_view in, size_t& pos, const ParseLimits& limits, CommonHeaders& h,
                   Malformed& why) {
  size_t count = 0;
  bool saw_te = false;
  while (true) {
    std::string_view line;
    size_t next = 0;
    const Step s = take_line(in, pos, line, next);
    if (s == Step::kTruncated) return s;
    if (s == Step::kMalformed) {
      why = Malformed::kBadHeader;
      return s;
    }
    pos = next;
    if (line.empty()) break;
    if (++count > limits.max_headers) {
      why = Malformed::kTooManyHeaders;
      return Step::kMalformed;
    }
    const size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      why = Malformed::kBadHeader;  // includes obsolete line folding (leading SP/HT)
      return Step::kMalformed;
    }
    const std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_tchar(c)) {
        why = Malformed::kBadHeader;
        return Step::kMalformed;
      }
    }
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!valid_field_value(value)) {
      why = Malformed::kBadHeader;
      return Step::kMalformed;
    }
    if (token_is(name, "host")) {
      if (h.has_host) {  // two Host headers: ambiguous routing, refuse (RFC 9112 3.2)
        why = Malformed::kBadHost;
        return Step::kMalformed;
      }
      h.has_host = true;
      h.host = value;
    } else if (token_is(name, "content-length")) {
      uint64_t v = 0;
      if (!parse_decimal(value, kMaxContentLength, v) ||
          (h.content_length && *h.content_length != v)) {
        why = Malformed::kBadContentLength;
        return Step::kMalformed;
      }
      h.content_length = v;
    } else if (token_is(name, "transfer-encoding")) {
      // Only the last coding decides the framing; "chunked" must be last to be chunked.
      const size_t comma = value.rfind(',');
      const std::string_view last =
          trim_ows(comma == std::string_view::npos ? value : value.substr(comma + 1));
      if (last.empty()) {
        why = Malformed::kBadTransferEncoding;
        return Step::kMalformed;
      }
      h.chunked = iequals(last, "chunked");
      saw_te = true;
    } else if (token_is(name, "content-encoding")) {
      // Several codings may be stacked; the outermost (last) one is what the bytes are in.
      const size_t comma = value.rfind(',');
      h.coding = coding_from_token(comma == std::string_view::npos ? value : value.substr(comma + 1));
    } else if (token_is(name, "content-type")) {
      h.content_type = value;
    } else if (token_is(name, "connection")) {
      // A list of options (RFC 9110 7.6.1): compared option by option, so "close" inside
      // another word does not count.
      for (size_t start = 0; start <= value.size();) {
        size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) comma = value.size();
        const std::string_view option = trim_ows(value.substr(start, comma - start));
        if (token_is(option, "close")) h.connection_close = true;
        if (token_is(option, "keep-alive")) h.connection_keep_alive = true;
        start = comma + 1;
      }
    }
  }
  if (saw_te && h.content_length) {
    // Both framings present is a smuggling signature; Transfer-Encoding wins (RFC 9112 6.3), but
    // the length is dropped so nothing downstream trusts it.
    h.content_length.reset();
  }
  return Step::kOk;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Walks chunked framing from `pos`, appending up to `cap` data bytes to `body` (when non-null).
// Returns kOk with `pos` after the trailer section when the whole body was captured.
Step walk_chunked(std::string_view in, size_t& pos, size_t cap, std::string* body,
                  bool& body_truncated) {
  while (true) {
    std::string_view line;
    size_t next = 0;
    Step s = take_line(in, pos, line, next);
    if (s != Step::kOk) return s;
    const size_t semi = line.find(';');
    const std::string_view size_text = trim_ows(semi == std::string_view::npos ? line : line.substr(0, semi));
    if (size_text.empty() || size_text.size() > 15) return Step::kMalformed;
    uint64_t size = 0;
    for (char c : size_text) {
      const int v = hex_value(c);
      if (v < 0) return Step::kMalformed;
      size = size * 16 + static_cast<uint64_t>(v);
    }
    pos = next;
    if (size == 0) {
      // Trailer section: header-like lines up to a blank line.
      while (true) {
        s = take_line(in, pos, line, next);
        if (s != Step::kOk) return s;
        pos = next;
        if (line.empty()) return Step::kOk;
      }
    }
    const size_t avail = in.size() - pos;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(size, avail));
    if (body != nullptr) {
      const size_t room = cap > body->size() ? cap - body->size() : 0;
      if (take > room) body_truncated = true;
      body->append(in.substr(pos, std::min(take, room)));
    }
    if (size > avail) return Step::kTruncated;
    pos += static_cast<size_t>(size);
    // Chunk data ends with CRLF (tolerate a bare LF).
    if (pos >= in.size()) return Step::kTruncated;
    if (in[pos] == '\r') {
      if (pos + 1 >= in.size()) return Step::kTruncated;
      if (in[pos + 1] != '\n') return Step::kMalformed;
      pos += 2;
    } else if (in[pos] == '\n') {
      pos += 1;
    } else {
      return Step::kMalformed;
    }
  }
}

// Parses "HTTP/1.<d>" and stores the minor version.
bool parse_version(std::string_view v, uint8_t& minor) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1." || v[7] < '0' || v[7] > '9') return false;
  minor = static_cast<uint8_t>(v[7] - '0');
  return true;
}

// Truncated input with a usable partial request line: method and the target prefix are known.
Step parse_request_line(std::string_view line, RequestHead& req, Malformed& why) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) {
    why = Malformed::kBadRequestLine;
    return Step::kMalformed;
  }
  const std::string_view method = line.substr(0, sp1);
  if (method.size() > 24) {
    why = Malformed::kBadMethod;
    return Step::kMalformed;
  }
  for (unsigned char c : method) {
    if (!is_tchar(c)) {
      why = Malformed::kBadMethod;
      return Step::kMalformed;
    }
  }
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    why = Malformed::kBadRequestLine;
    return Step::kMalformed;
  }
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      why = Malformed::kBadTarget;
      return Step::kMalformed;
    }
  }
  if (!parse_version(line.substr(sp2 + 1), req.version_minor)) {
    why = Malformed::kBadVersion;
    return Step::kMalformed;
  }
  req.method = method;
  req.target = target;
  return Step::kOk;
}

Step parse_status_line(std::string_view line, ResponseHead& resp, Malformed& why) {
  // "HTTP/1.1 200 OK" (the reason phrase may be empty, and the space before it optional).
  if (line.size() < 12 || line[8] != ' ') {
    why = Malformed::kBadStatusLine;
    return Step::kMalformed;
  }
  if (!parse_version(line.substr(0, 8), resp.version_minor)) {
    why = Malformed::kBadVersion;
    return Step::kMalformed;
  }
  uint16_t status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      why = Malformed::kBadStatusLine;
      return Step::kMalformed;
    }
    status = static_cast<uint16_t>(status * 10 + (line[i] - '0'));
  }
  if (status < 100 || status > 599 || (line.size() > 12 && line[12] != ' ')) {
    why = Malformed::kBadStatusLine;
    return Step::kMalformed;
  }
  resp.status = status;
  return Step::kOk;
}

std::string_view capped(std::string_view bytes, const ParseLimits& limits, bool& over) {
  over = bytes.size() > limits.max_input_bytes;
  return over ? bytes.substr(0, limits.max_input_bytes) : bytes;
}

}  // namespace

const char* malformed_name(Malformed reason) {
  switch (reason) {
    case Malformed::kBadRequestLine: return "bad_request_line";
    case Malformed::kBadMethod: return "bad_method";
    case Malformed::kBadTarget: return "bad_target";
    case Malformed::kBadVersion: return "bad_version";
    case Malformed::kBadStatusLine: return "bad_status_line";
    case Malformed::kBadHeader: return "bad_header";
    case Malformed::kTooManyHeaders: return "too_many_headers";
    case Malformed::kBadContentLength: return "bad_content_length";
    case Malformed::kBadTransferEncoding: return "bad_transfer_encoding";
    case Malformed::kBadChunk: return "bad_chunk";
    case Malformed::kInputOverCap: return "input_over_cap";
    case Malformed::kTooManyMessages: return "too_many_messages";
    case Malformed::kBadHost: return "bad_host";
    case Malformed::kCount: break;
  }
  return "unknown";
}

const char* content_coding_name(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kIdentity: return "";
    case ContentCoding::kGzip: return "gzip";
    case ContentCoding::kDeflate: return "deflate";
    case ContentCoding::kBr: return "br";
    case ContentCoding::kZstd: return "zstd";
    case ContentCoding::kCompress: return "compress";
    case ContentCoding::kOther: return "other";
  }
  return "other";
}

ParseResult<RequestHead> parse_requests(std::string_view bytes, const ParseLimits& limits) {
  ParseResult<RequestHead> out;
  bool over = false;
  const std::string_view in = capped(bytes, limits, over);
  size_t pos = 0;
  while (pos < in.size()) {
    if (out.messages.size() >= limits.max_messages_per_buffer) {
      out.error = Malformed::kTooManyMessages;
      break;
    }
    // RFC 9112 2.2: a server should ignore empty lines before a request line.
    while (pos < in.size() && (in[pos] == '\r' || in[pos] == '\n')) ++pos;
    if (pos >= in.size()) break;
    RequestHead req;
    std::string_view line;
    size_t next = 0;
    Step s = take_line(in, pos, line, next);
    if (s == Step::kTruncated) {
      out.truncated = true;
      break;
    }
    Malformed why = Malformed::kBadRequestLine;
    if (s == Step::kMalformed || parse_request_line(line, req, why) != Step::kOk) {
      out.error = why;
      break;
    }
    pos = next;
    s = parse_headers(in, pos, limits, req.headers, why);
    if (s == Step::kMalformed) {
      out.error = why;
      break;
    }
    if (s == Step::kTruncated) {
      out.truncated = true;
      out.messages.push_back(req);
      break;
    }
    req.headers_complete = true;
    if (req.headers.chunked) {
      bool unused = false;
      s = walk_chunked(in, pos, 0, nullptr, unused);
      if (s == Step::kMalformed) {
        out.error = Malformed::kBadChunk;
        out.messages.push_back(req);
        break;
      }
    } else if (req.headers.content_length) {
      const uint64_t len = *req.headers.content_length;
      if (len > in.size() - pos) {
        s = Step::kTruncated;
      } else {
        pos += static_cast<size_t>(len);
      }
    }
    if (s == Step::kTruncated) {
      out.truncated = true;
      out.messages.push_back(req);
      break;
    }
    req.body_complete = true;
    out.messages.push_back(req);
    out.consumed = pos;
  }
  if (over) {
    out.truncated = true;
    if (!out.error) out.error = Malformed::kInputOverCap;
  }
  return out;
}

ParseResult<ResponseHead> parse_responses(std::string_view bytes, const ParseLimits& limits,
                                          std::span<const std::string_view> request_methods) {
  ParseResult<ResponseHead> out;
  bool over = false;
  const std::string_view in = capped(bytes, limits, over);
  size_t pos = 0;
  size_t final_index = 0;  // index of the request the next final response answers
  while (pos < in.size()) {
    if (out.messages.size() >= limits.max_messages_per_buffer) {
      out.error = Malformed::kTooManyMessages;
      break;
    }
    ResponseHead resp;
    std::string_view line;
    size_t next = 0;
    Step s = take_line(in, pos, line, next);
    if (s == Step::kTruncated) {
      // A status line cut short still tells the status once "HTTP/1.x NNN" is in.
      if (in.size() - pos >= 12) {
        Malformed why = Malformed::kBadStatusLine;
        if (parse_status_line(in.substr(pos, 12), resp, why) == Step::kOk) {
          out.messages.push_back(std::move(resp));
        }
      }
      out.truncated = true;
      break;
    }
    Malformed why = Malformed::kBadStatusLine;
    if (s == Step::kMalformed || parse_status_line(line, resp, why) != Step::kOk) {
      out.error = why;
      break;
    }
    pos = next;
    s = parse_headers(in, pos, limits, resp.headers, why);
    if (s == Step::kMalformed) {
      out.error = why;
      break;
    }
    if (s == Step::kTruncated) {
      out.truncated = true;
      out.messages.push_back(std::move(resp));
      break;
    }
    resp.headers_complete = true;
    const bool is_head = final_index < request_methods.size() && request_methods[final_index] == "HEAD";
    resp.interim = resp.status >= 100 && resp.status < 200 && resp.status != 101;
    const bool no_body = is_head || (resp.status >= 100 && resp.status < 200) ||
                         resp.status == 204 || resp.status == 304;
    bool stop_after = false;
    if (no_body) {
      resp.body_complete = true;
      stop_after = resp.status == 101;  // the connection is no longer HTTP/1.x after an upgrade
    } else if (resp.headers.chunked) {
      s = walk_chunked(in, pos, limits.max_body_prefix, &resp.body, resp.body_truncated);
      if (s == Step::kMalformed) {
        out.error = Malformed::kBadChunk;
        out.messages.push_back(std::move(resp));
        break;
      }
    } else if (resp.headers.content_length) {
      const uint64_t len = *resp.headers.content_length;
      const size_t avail = in.size() - pos;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(len, avail));
      resp.body.assign(in.substr(pos, std::min(take, limits.max_body_prefix)));
      resp.body_truncated = take > limits.max_body_prefix || len > avail;
      if (len > avail) {
        s = Step::kTruncated;
      } else {
        pos += static_cast<size_t>(len);
      }
    } else {
      // Close-delimited body: everything that follows belongs to it.
      const std::string_view rest = in.substr(pos);
      resp.body.assign(rest.substr(0, std::min(rest.size(), limits.max_body_prefix)));
      resp.body_truncated = true;  // its end is unknowable from a prefix
      pos = in.size();
      stop_after = true;
    }
    if (s == Step::kTruncated) {
      resp.body_truncated = true;
      out.truncated = true;
      out.messages.push_back(std::move(resp));
      break;
    }
    resp.body_complete = !stop_after || no_body;
    if (!resp.interim) ++final_index;
    out.messages.push_back(std::move(resp));
    out.consumed = pos;
    if (stop_after) break;
  }
  if (over) {
    out.truncated = true;
    if (!out.error) out.error = Malformed::kInputOverCap;
  }
  return out;
}

}  // namespace ringward::http
