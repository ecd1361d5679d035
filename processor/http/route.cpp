// Route and service normalisation. See route.h.
#include "processor/http/route.h"

#include <algorithm>
#include <functional>

namespace ringward::http {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// RFC 3986 pchar minus nothing: unreserved / pct-encoded / sub-delims / ":" / "@". Quotes,
// backslashes, spaces and controls never reach a label.
bool is_path_char(char c) {
  if (is_lower(c) || is_upper(c) || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&': case '\'':
    case '(': case ')': case '*': case '+': case ',': case ';': case '=': case ':': case '@':
      return true;
    default:
      return false;
  }
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// Path part of a request target: query and fragment dropped, absolute-form authority removed.
std::string_view path_of(std::string_view target) {
  const size_t q = target.find_first_of("?#");
  if (q != std::string_view::npos) target = target.substr(0, q);
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() >= scheme.size() &&
        std::equal(scheme.begin(), scheme.end(), target.begin(),
                   [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b); })) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find('/');
      return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  return target;
}

std::vector<std::string_view> split_path(std::string_view path, size_t max_keep, bool& deeper) {
  std::vector<std::string_view> out;
  deeper = false;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) {  // empty segments ("//", trailing "/") carry no route information
      if (out.size() >= max_keep) {
        deeper = true;
        break;
      }
      out.push_back(path.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace

std::optional<std::string> normalize_host(std::string_view host, size_t max_len) {
  if (host.empty() || host.size() > max_len) return std::nullopt;
  std::string out;
  out.reserve(host.size());
  size_t i = 0;
  if (host.front() == '[') {  // IPv6 literal
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close < 3) return std::nullopt;
    for (i = 1; i < close; ++i) {
      const char c = host[i];
      if (!is_hex(c) && c != ':' && c != '.') return std::nullopt;
    }
    out.push_back('[');
    for (char c : host.substr(1, close - 1)) out.push_back(is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c);
    out.push_back(']');
    i = close + 1;
  } else {
    for (; i < host.size() && host[i] != ':'; ++i) {
      const char c = host[i];
      if (!(is_lower(c) || is_upper(c) || is_digit(c) || c == '-' || c == '.' || c == '_')) {
        return std::nullopt;
      }
      out.push_back(is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c);
    }
    while (!out.empty() && out.back() == '.') out.pop_back();  // "example.com." == "example.com"
    if (out.empty()) return std::nullopt;
  }
  if (i < host.size()) {
    if (host[i] != ':' || i + 1 == host.size() || host.size() - i - 1 > 5) return std::nullopt;
    uint32_t port = 0;
    for (char c : host.substr(i + 1)) {
      if (!is_digit(c)) return std::nullopt;
      port = port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::string service_from_port(uint16_t port) { return "port_" + std::to_string(port); }

std::string_view classify_segment(std::string_view s, const RouteConfig& config) {
  if (s.size() > config.max_segment_len) return "{token}";
  size_t digits = 0, lowers = 0, uppers = 0, hex = 0, separators = 0;
  for (char c : s) {
    if (!is_path_char(c)) return "{invalid}";
    digits += is_digit(c);
    lowers += is_lower(c);
    uppers += is_upper(c);
    hex += is_hex(c);
    separators += (c == '-' || c == '_' || c == '.' || c == '~');
  }
  if (digits == s.size()) return "{id}";
  if (is_uuid(s)) return "{uuid}";
  if (hex == s.size() && digits > 0 && s.size() >= config.hex_min_len) return "{hex}";
  if (s.size() >= config.token_min_len) {
    const bool letters = lowers + uppers > 0;
    // Random identifiers mix digits and letters (base64url, base62, JWT parts) or mix cases
    // heavily without word separators; long slugs ("how-to-install-nginx") stay literals and are
    // left to the cardinality guard.
    if ((digits > 0 && letters) || (uppers >= 3 && lowers >= 3 && separators == 0)) return "{token}";
  }
  return {};
}

RouteNormalizer::RouteNormalizer(const RouteConfig& config) : config_(config) {
  for (const std::string& text : config_.patterns) {
    Pattern p;
    p.text = text;
    bool deeper = false;
    for (std::string_view seg : split_path(text, SIZE_MAX, deeper)) {
      if (seg == "{*}") {
        p.rest = true;
        break;
      }
      p.segments.emplace_back(seg);
    }
    patterns_.push_back(std::move(p));
  }
}

bool RouteNormalizer::matches(const Pattern& p, const std::vector<std::string_view>& segments) {
  if (p.rest ? segments.size() < p.segments.size() : segments.size() != p.segments.size()) {
    return false;
  }
  for (size_t i = 0; i < p.segments.size(); ++i) {
    const std::string& want = p.segments[i];
    const bool wildcard = want.size() >= 2 && want.front() == '{' && want.back() == '}';
    if (!wildcard && want != segments[i]) return false;
  }
  return true;
}

std::string_view RouteNormalizer::guard_literal(ServiceGuard& guard, const std::string& prefix,
                                                std::string_view literal) {
  auto it = guard.find(prefix);
  if (it == guard.end()) {
    if (guard.size() >= config_.max_prefixes_per_service) {
      ++untracked_literals_;  // no room to prove this position is low-cardinality
      return "*";
    }
    it = guard.emplace(prefix, PrefixState{}).first;
  }
  PrefixState& st = it->second;
  if (st.collapsed) return "*";
  const uint64_t h = std::hash<std::string_view>{}(literal);
  if (std::find(st.seen.begin(), st.seen.end(), h) != st.seen.end()) return literal;
  if (st.seen.size() >= config_.cardinality_limit) {
    st.collapsed = true;
    st.seen.clear();
    st.seen.shrink_to_fit();
    ++collapsed_positions_;
    return "*";
  }
  st.seen.push_back(h);
  return literal;
}

std::string RouteNormalizer::normalize(std::string_view service, std::string_view target) {
  if (target == "*") return "*";  // OPTIONS * (asterisk-form)
  const std::string_view path = path_of(target);
  if (path.empty() || path.front() != '/') return "{authority}";  // CONNECT host:port
  bool deeper = false;
  const std::vector<std::string_view> segments = split_path(path, config_.max_segments, deeper);
  if (!deeper) {
    for (const Pattern& p : patterns_) {
      if (matches(p, segments)) return p.text;
    }
  }
  auto sit = services_.find(std::string(service));
  if (sit == services_.end()) sit = services_.emplace(std::string(service), ServiceGuard{}).first;
  std::string route;
  for (std::string_view seg : segments) {
    std::string_view label = classify_segment(seg, config_);
    if (label.empty()) label = guard_literal(sit->second, route, seg);
    route += '/';
    route += label;
  }
  if (deeper) route += "/{...}";
  if (route.empty()) route = "/";
  return route;
}

}  // namespace ringward::http
