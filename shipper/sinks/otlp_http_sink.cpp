// OTLP/HTTP logs sink (see otlp_http_sink.h). Field numbers are those of opentelemetry-proto
// (collector/logs/v1/logs_service.proto, logs/v1/logs.proto, common/v1/common.proto,
// resource/v1/resource.proto), checked against the published .proto files. Trust: shipper.
#include "shipper/sinks/otlp_http_sink.h"

#include <algorithm>
#include <map>

#include "shipper/sinks/event_view.h"
#include "shipper/sinks/json.h"
#include "shipper/sinks/protobuf_reader.h"
#include "shipper/sinks/protobuf_writer.h"

#ifndef RINGWARD_VERSION
#define RINGWARD_VERSION "0"
#endif

namespace ringward::shipper::sinks {

namespace {

// ExportLogsServiceRequest
constexpr uint32_t kReqResourceLogs = 1;
// ResourceLogs
constexpr uint32_t kRlResource = 1, kRlScopeLogs = 2;
// Resource
constexpr uint32_t kResAttributes = 1;
// ScopeLogs / InstrumentationScope
constexpr uint32_t kSlScope = 1, kSlLogRecords = 2, kScopeName = 1, kScopeVersion = 2;
// LogRecord
constexpr uint32_t kLrTime = 1, kLrSeverityNumber = 2, kLrSeverityText = 3, kLrBody = 5, kLrAttributes = 6,
                   kLrObservedTime = 11;
// KeyValue / AnyValue / ArrayValue
constexpr uint32_t kKvKey = 1, kKvValue = 2, kAvString = 1, kAvInt = 3, kAvArray = 5, kArrValues = 1;
// ExportLogsServiceResponse / ExportLogsPartialSuccess
constexpr uint32_t kRespPartialSuccess = 1, kPsRejected = 1, kPsMessage = 2;

std::string_view text_of(capnp::Text::Reader t) { return {t.cStr(), t.size()}; }

// One attribute value in both encodings.
struct Attr {
  enum Kind { str, i64, str_list };
  Attr(std::string k, std::string v) : key(std::move(k)), s(std::move(v)) {}
  Attr(std::string k, int64_t v) : key(std::move(k)), kind(i64), i(v) {}
  Attr(std::string k, std::vector<std::string> v) : key(std::move(k)), kind(str_list), list(std::move(v)) {}
  std::string key;
  Kind kind = str;
  std::string s;
  int64_t i = 0;
  std::vector<std::string> list;
};

struct Record {
  uint64_t time_ns = 0;
  int severity = 0;
  std::string_view severity_text;
  std::string body;
  std::vector<Attr> attrs;
};

void pb_any_string(std::string& out, uint32_t field, std::string_view s) {
  pb::put_message(out, field, [&](std::string& av) { pb::put_bytes(av, kAvString, s); });
}

void pb_attr(std::string& out, uint32_t field, const Attr& a) {
  pb::put_message(out, field, [&](std::string& kv) {
    pb::put_bytes(kv, kKvKey, a.key);
    pb::put_message(kv, kKvValue, [&](std::string& av) {
      if (a.kind == Attr::str) {
        pb::put_bytes(av, kAvString, a.s);
      } else if (a.kind == Attr::i64) {
        pb::put_int64(av, kAvInt, a.i);
      } else {
        pb::put_message(av, kAvArray, [&](std::string& arr) {
          for (const auto& s : a.list) pb_any_string(arr, kArrValues, s);
        });
      }
    });
  });
}

void json_attr(std::string& out, const Attr& a) {
  out += "{\"key\":";
  append_json_string(out, a.key);
  out += ",\"value\":";
  if (a.kind == Attr::str) {
    out += "{\"stringValue\":";
    append_json_string(out, a.s);
    out += '}';
  } else if (a.kind == Attr::i64) {
    out += "{\"intValue\":\"" + std::to_string(a.i) + "\"}";  // 64-bit ints are strings in OTLP JSON
  } else {
    out += "{\"arrayValue\":{\"values\":[";
    for (size_t i = 0; i < a.list.size(); ++i) {
      if (i) out += ',';
      out += "{\"stringValue\":";
      append_json_string(out, a.list[i]);
      out += '}';
    }
    out += "]}}";
  }
  out += '}';
}

void json_attrs(std::string& out, const std::vector<Attr>& attrs) {
  out += '[';
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (i) out += ',';
    json_attr(out, attrs[i]);
  }
  out += ']';
}

Compression parse_compression(const std::string& s) {
  if (s.empty() || s == "gzip") return Compression::gzip;  // gzip unless told otherwise
  if (s == "zstd") return Compression::zstd;
  return Compression::none;
}

}  // namespace

int otlp_severity_number(schema::Priority p) {
  switch (p) {
    case schema::Priority::LOW: return 5;
    case schema::Priority::NORMAL: return 9;
    case schema::Priority::HIGH: return 13;
    case schema::Priority::CRITICAL: return 17;
  }
  return 0;
}

OtlpHttpSink::OtlpHttpSink(const SinkConfig& c, const Clock& clock)
    : cfg_(c),
      clock_(clock),
      name_("otlp_http:" + c.endpoint),
      url_(c.endpoint.ends_with("/v1/logs") ? c.endpoint : join_url(c.endpoint, "/v1/logs")),
      encoding_(c.encoding == "json" ? Encoding::json : Encoding::protobuf),
      compression_(parse_compression(c.compression)),
      http_(HttpTimeouts{c.connect_timeout, c.request_timeout, c.tls_verify}) {}

std::string OtlpHttpSink::build_request(std::span<const OutEvent> batch, std::vector<size_t>& sent,
                                        std::vector<Rejection>& rejected) const {
  // Records grouped by host (one Resource per host), hosts in order of first appearance.
  std::vector<std::pair<std::string, std::vector<Record>>> groups;
  for (size_t i = 0; i < batch.size(); ++i) {
    Record rec;
    std::string host;
    auto err = with_event(batch[i], [&](schema::Event::Reader e) {
      host = cfg_.host.empty() ? std::string(text_of(e.getHost())) : cfg_.host;
      rec.time_ns = e.getWallNs() ? e.getWallNs() : batch[i].wall_ns;
      rec.severity = otlp_severity_number(e.getPriority());
      rec.severity_text = priority_name(e.getPriority());
      append_event_json_object(e, rec.body);
      rec.attrs.push_back(Attr("ringward.event.id", std::to_string(e.getId())));
      rec.attrs.push_back(Attr("ringward.event.kind", std::string(kind_name(e))));
      rec.attrs.push_back(Attr("ringward.priority", std::string(priority_name(e.getPriority()))));
      rec.attrs.push_back(Attr("ringward.verdict", std::string(verdict_name(e.getVerdict()))));
      rec.attrs.push_back(Attr("process.pid", static_cast<int64_t>(e.getPid())));
      if (e.hasRuleIds() && e.getRuleIds().size() > 0) {
        std::vector<std::string> rules;
        for (auto r : e.getRuleIds()) rules.emplace_back(text_of(r));
        rec.attrs.push_back(Attr("ringward.rule_ids", std::move(rules)));
      }
    });
    if (err) {
      rejected.push_back(Rejection{i, 0, *err});
      continue;
    }
    sent.push_back(i);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == host; });
    if (it == groups.end()) {
      groups.emplace_back(host, std::vector<Record>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(std::move(rec));
  }

  auto resource_attrs = [](const std::string& host) {
    return std::vector<Attr>{Attr("service.name", std::string("ringward")), Attr("host.name", host)};
  };
  std::string out;
  if (encoding_ == Encoding::protobuf) {
    for (const auto& [host, recs] : groups) {
      pb::put_message(out, kReqResourceLogs, [&](std::string& rl) {
        pb::put_message(rl, kRlResource, [&](std::string& res) {
          for (const auto& a : resource_attrs(host)) pb_attr(res, kResAttributes, a);
        });
        pb::put_message(rl, kRlScopeLogs, [&](std::string& sl) {
          pb::put_message(sl, kSlScope, [&](std::string& sc) {
            pb::put_bytes(sc, kScopeName, "ringward");
            pb::put_bytes(sc, kScopeVersion, RINGWARD_VERSION);
          });
          for (const auto& r : recs) {
            pb::put_message(sl, kSlLogRecords, [&](std::string& lr) {
              pb::put_fixed64(lr, kLrTime, r.time_ns);
              pb::put_uint(lr, kLrSeverityNumber, static_cast<uint64_t>(r.severity));
              pb::put_bytes(lr, kLrSeverityText, r.severity_text);
              pb_any_string(lr, kLrBody, r.body);
              for (const auto& a : r.attrs) pb_attr(lr, kLrAttributes, a);
              pb::put_fixed64(lr, kLrObservedTime, r.time_ns);
            });
          }
        });
      });
    }
    return out;
  }
  out += "{\"resourceLogs\":[";
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& [host, recs] = groups[g];
    if (g) out += ',';
    out += "{\"resource\":{\"attributes\":";
    json_attrs(out, resource_attrs(host));
    out += "},\"scopeLogs\":[{\"scope\":{\"name\":\"ringward\",\"version\":\"" RINGWARD_VERSION "\"},\"logRecords\":[";
    for (size_t i = 0; i < recs.size(); ++i) {
      const Record& r = recs[i];
      if (i) out += ',';
      out += "{\"timeUnixNano\":\"" + std::to_string(r.time_ns) + "\",\"observedTimeUnixNano\":\"" +
             std::to_string(r.time_ns) + "\",\"severityNumber\":" + std::to_string(r.severity) +
             ",\"severityText\":\"" + std::string(r.severity_text) + "\",\"body\":{\"stringValue\":";
      append_json_string(out, r.body);
      out += "},\"attributes\":";
      json_attrs(out, r.attrs);
      out += '}';
    }
    out += "]}]}";
  }
  out += "]}";
  return out;
}

SendResult OtlpHttpSink::send(std::span<const OutEvent> batch) {
  std::vector<size_t> sent;
  std::vector<Rejection> rejected;
  std::string body = build_request(batch, sent, rejected);
  if (sent.empty()) {
    SendResult r;
    r.rejected = std::move(rejected);
    r.detail = "no decodable event in batch";
    return r;
  }
  auto payload = compress(compression_, body);
  if (!payload) {
    SendResult r;
    r.status = SendStatus::retry;
    r.detail = "compression failed (out of memory?)";
    return r;
  }
  std::vector<std::string> headers{encoding_ == Encoding::json ? "Content-Type: application/json"
                                                               : "Content-Type: application/x-protobuf"};
  if (compression_ != Compression::none) headers.push_back("Content-Encoding: " + std::string(content_encoding(compression_)));
  for (const auto& [name, value] : cfg_.headers) headers.push_back(name + ": " + value);  // `headers`
  HttpResponse resp = http_.post(url_, headers, *payload);
  SendResult r = classify(resp, sent);
  r.rejected.insert(r.rejected.end(), rejected.begin(), rejected.end());
  std::sort(r.rejected.begin(), r.rejected.end(), [](const Rejection& a, const Rejection& b) { return a.index < b.index; });
  return r;
}

SendResult OtlpHttpSink::classify(const HttpResponse& resp, const std::vector<size_t>& sent) {
  SendResult r;
  if (resp.transport_error()) {
    r.status = SendStatus::retry;
    r.backpressure = resp.disconnected();
    r.detail = "OTLP " + url_ + ": " + resp.curl_error;
    return r;
  }
  const int http = static_cast<int>(resp.status);
  const bool bp_body = body_signals_backpressure(resp.body);
  r.protocol_status = http;
  r.backpressure = resp.x_backpressure || bp_body || http == 429;
  if (resp.retry_after) r.retry_after = parse_retry_after(*resp.retry_after, clock_);
  std::string what = "OTLP " + std::to_string(http);

  if (http >= 200 && http < 300 && !bp_body) {
    std::optional<PartialSuccess> ps;
    if (!resp.body.empty()) {
      ps = resp.content_type.starts_with("application/json") ? parse_partial_success_json(resp.body)
                                                             : parse_partial_success_protobuf(resp.body);
    }
    if (!ps || ps->rejected <= 0) {
      r.detail = what;
      return r;
    }
    std::string reason = what + " partial success: " + std::to_string(ps->rejected) + " of " +
                         std::to_string(sent.size()) + " rejected: " + ps->message.substr(0, 256);
    if (sent.size() == 1 || static_cast<uint64_t>(ps->rejected) >= sent.size()) {
      for (size_t i : sent) r.rejected.push_back(Rejection{i, http, reason});  // which ones is unambiguous
      r.detail = reason;
      return r;
    }
    // OTLP does not say which records were refused: the engine splits the batch to find them.
    // Never retried as is (the peer stored the others; a split resend may duplicate them).
    r.status = SendStatus::permanent;
    r.detail = reason;
    return r;
  }
  if (bp_body || http == 429 || http == 502 || http == 503 || http == 504) {
    r.status = SendStatus::retry;
    r.detail = what + (bp_body ? ": BACKPRESSURE" : "");
    return r;
  }
  // Every other status is permanent per the OTLP spec (400 bad data, 401/403, 413 too large, 500...).
  r.status = SendStatus::permanent;
  r.detail = what + ": " + resp.body.substr(0, 256);
  return r;
}

std::optional<PartialSuccess> parse_partial_success_protobuf(std::string_view body) {
  PartialSuccess ps;
  pb::Reader top(body);
  while (top.next()) {
    if (top.field() != kRespPartialSuccess || top.wire() != pb::kLen) continue;
    pb::Reader in(top.bytes());
    while (in.next()) {
      if (in.field() == kPsRejected && in.wire() == pb::kVarint) ps.rejected = static_cast<int64_t>(in.u64());
      if (in.field() == kPsMessage && in.wire() == pb::kLen) ps.message = std::string(in.bytes());
    }
    if (!in.ok()) return std::nullopt;
  }
  if (!top.ok()) return std::nullopt;
  return ps;
}

std::optional<PartialSuccess> parse_partial_success_json(std::string_view body) {
  auto v = parse_json(body);
  if (!v || !v->is_object()) return std::nullopt;
  PartialSuccess ps;
  const JsonValue* p = v->get("partialSuccess");
  if (!p) return ps;
  if (const JsonValue* n = p->get("rejectedLogRecords")) ps.rejected = n->as_int().value_or(0);
  if (const JsonValue* m = p->get("errorMessage"); m && m->type == JsonValue::Type::string) ps.message = m->text;
  return ps;
}

}  // namespace ringward::shipper::sinks
