// Business-error rules. See business.h and docs/http-semantics.md.
#include "processor/http/business.h"

#include <array>

namespace ringward::http {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > hay.size()) return false;
  const char first = lower(needle[0]);
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (lower(hay[i]) == first && iequals(hay.substr(i + 1, needle.size() - 1), needle.substr(1)))
      return true;
  }
  return false;
}

bool is_null(const JsonMember* m) { return m == nullptr || m->kind == JsonKind::kNull; }

bool truthy(const JsonMember& m) {
  switch (m.kind) {
    case JsonKind::kString: return !m.scalar.empty();
    case JsonKind::kNumber: return m.scalar.find_first_not_of("0.-+eE") != std::string::npos;
    case JsonKind::kTrue: return true;
    case JsonKind::kFalse:
    case JsonKind::kNull: return false;
    case JsonKind::kObject:
    case JsonKind::kArray: return !m.empty_container;
  }
  return false;
}

bool value_equals(const JsonMember& m, std::string_view want) {
  switch (m.kind) {
    case JsonKind::kString:
    case JsonKind::kNumber: return iequals(m.scalar, want);
    case JsonKind::kTrue: return iequals(want, "true");
    case JsonKind::kFalse: return iequals(want, "false");
    case JsonKind::kNull: return iequals(want, "null");
    default: return false;
  }
}

bool looks_like_json_object(std::string_view body) {
  for (char c : body) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

struct TypeWords {
  std::string_view type;
  std::array<std::string_view, 8> words;
};

// Checked in order: the more specific failure wins ("invalid_token" is auth, not validation).
constexpr std::array<TypeWords, 4> kTypeWords = {{
    {"rate_limit", {"rate_limit", "rate limit", "ratelimit", "too many requests", "too_many_requests",
                    "throttl", "quota", "slow down"}},
    {"insufficient_funds", {"insufficient_funds", "insufficient funds", "insufficient_balance",
                            "insufficient balance", "insufficientfunds", "not enough funds",
                            "nsf", "balance too low"}},
    {"auth_failure", {"unauthori", "unauthenticated", "forbidden", "auth", "token", "permission",
                      "access denied", "credential"}},
    {"validation", {"validation", "invalid", "missing", "required", "malformed", "bad_request",
                    "bad request", "must be"}},
}};

}  // namespace

std::string_view BusinessErrorDetector::infer_type(uint16_t status, const JsonScan& scan) {
  if (status == 429) return "rate_limit";
  if (status == 401 || status == 403) return "auth_failure";
  if (status == 402) return "insufficient_funds";
  // Only the members that describe a failure are searched, so ordinary data mentioning "token" or
  // "invalid" elsewhere in the body does not steer the type.
  static constexpr std::array<std::string_view, 14> kDescriptive = {
      "error", "errors", "code", "error_code", "errorCode", "type", "message", "msg", "reason",
      "detail", "title", "error_description", "status", "description"};
  std::string text;
  for (const JsonMember& m : scan.members) {
    for (std::string_view key : kDescriptive) {
      if (m.key == key) {
        text += to_lower(m.raw.substr(0, 512));
        text += ' ';
        break;
      }
    }
  }
  for (const TypeWords& tw : kTypeWords) {
    for (std::string_view w : tw.words) {
      if (!w.empty() && text.find(w) != std::string::npos) return tw.type;
    }
  }
  if (status == 422 || status == 400) return "validation";
  return "generic_business_error";
}

BusinessVerdict BusinessErrorDetector::classify(uint16_t status, std::string_view content_type,
                                                ContentCoding coding, std::string_view body) const {
  BusinessVerdict v;
  if (!rules_.enabled || status < rules_.min_status || status > rules_.max_status) return v;
  if (coding != ContentCoding::kIdentity) return v;  // compressed bytes are never read as text
  if (!content_type.empty() ? !icontains(content_type, "json") : !looks_like_json_object(body)) {
    return v;  // HTML and text pages say "error" in ordinary prose; only JSON carries rules
  }
  scan_json_object(body, scan_);
  const JsonScan& scan = scan_;
  if (!scan.is_object) return v;
  v.inspected = true;

  auto fire = [&](std::string_view type, std::string rule) {
    v.error_type = std::string(type);
    v.rule = std::move(rule);
    return v;
  };
  for (const BusinessFieldRule& r : rules_.extra_rules) {
    const JsonMember* m = scan.find(r.key);
    if (m != nullptr && (r.value.empty() ? truthy(*m) : value_equals(*m, r.value))) {
      return fire(r.error_type, "rule:" + r.key);
    }
  }
  for (const std::string& key : rules_.false_means_error_keys) {
    const JsonMember* m = scan.find(key);
    if (m != nullptr && m->kind == JsonKind::kFalse) return fire(infer_type(status, scan), key + "_false");
  }
  if (const JsonMember* m = scan.find("status"); m != nullptr && m->kind == JsonKind::kString) {
    for (const std::string& bad : rules_.status_error_values) {
      if (iequals(m->scalar, bad)) return fire(infer_type(status, scan), "status_error");
    }
  }
  for (std::string_view key : {"code", "error_code", "errorCode"}) {
    const JsonMember* m = scan.find(key);
    if (m == nullptr || m->kind != JsonKind::kString) continue;
    for (const std::string& sub : rules_.code_error_substrings) {
      if (icontains(m->scalar, sub)) return fire(infer_type(status, scan), "code_error");
    }
  }
  if (rules_.error_key_is_error) {
    const JsonMember* m = scan.find("error");
    if (m != nullptr && truthy(*m)) return fire(infer_type(status, scan), "error_key");
  }
  const JsonMember* errors = scan.find("errors");
  if (errors != nullptr && errors->kind == JsonKind::kArray && !errors->empty_container) {
    // GraphQL partial success: data alongside errors is a successful response. A truncated
    // body may have cut "data" off (GraphQL puts errors first), so an unseen data key with the
    // object unfinished is not proof of total failure.
    const JsonMember* data = scan.find("data");
    const bool data_present = !is_null(data);
    if (!data_present && rules_.graphql_errors_without_data_is_error &&
        (data != nullptr || !scan.truncated)) {
      return fire(infer_type(status, scan), "graphql_errors");
    }
  }
  return v;
}

}  // namespace ringward::http
