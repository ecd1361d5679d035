// Splunk HEC sink (see splunk_hec_sink.h). Trust: shipper; the code table below is the HEC
// documentation's (PROTOCOLS.md), each code mapped to what the delivery engine must do with it.
#include "shipper/sinks/splunk_hec_sink.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <thread>

#include "shipper/sinks/event_view.h"
#include "shipper/sinks/json.h"

namespace ringward::shipper::sinks {

std::string random_guid() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t hi = gen(), lo = gen();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF), static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

namespace {

Compression parse_compression(const std::string& s) {
  if (s.empty() || s == "gzip") return Compression::gzip;  // gzip unless told otherwise
  if (s == "zstd") return Compression::zstd;
  return Compression::none;
}

std::string_view text_of(capnp::Text::Reader t) { return {t.cStr(), t.size()}; }

void append_field(std::string& out, bool& first, std::string_view key, std::string_view value) {
  if (!first) out += ',';
  first = false;
  append_json_string(out, key);
  out += ':';
  append_json_string(out, value);
}

SendResult retry(int status, std::string detail) {
  SendResult r;
  r.status = SendStatus::retry;
  r.protocol_status = status;
  r.detail = std::move(detail);
  return r;
}

SendResult permanent(int status, std::string detail) {
  SendResult r = retry(status, std::move(detail));
  r.status = SendStatus::permanent;
  return r;
}

}  // namespace

SplunkHecSink::SplunkHecSink(const SinkConfig& c, const Clock& clock)
    : cfg_(c),
      clock_(clock),
      name_("splunk_hec:" + c.endpoint),
      url_(join_url(c.endpoint, "/services/collector/event")),
      ack_url_(join_url(c.endpoint, "/services/collector/ack")),
      channel_(c.channel.empty() ? random_guid() : c.channel),
      compression_(parse_compression(c.compression)),
      http_(HttpTimeouts{c.connect_timeout, c.request_timeout, c.tls_verify}) {}

std::string SplunkHecSink::build_body(std::span<const OutEvent> batch, std::vector<size_t>& sent,
                                      std::vector<Rejection>& rejected) const {
  std::string body;
  body.reserve(batch.size() * 1024);
  for (size_t i = 0; i < batch.size(); ++i) {
    const OutEvent& ev = batch[i];
    size_t mark = body.size();
    auto err = with_event(ev, [&](schema::Event::Reader e) {
      uint64_t wall = e.getWallNs() ? e.getWallNs() : ev.wall_ns;
      char t[48];
      // Microseconds: what Splunk keeps of a sub-second timestamp.
      std::snprintf(t, sizeof t, "%llu.%06llu", static_cast<unsigned long long>(wall / 1'000'000'000ULL),
                    static_cast<unsigned long long>((wall % 1'000'000'000ULL) / 1000));
      body += "{\"time\":";
      body += t;
      body += ",\"host\":";
      append_json_string(body, cfg_.host.empty() ? text_of(e.getHost()) : std::string_view(cfg_.host));
      body += ",\"source\":";
      append_json_string(body, cfg_.source);
      body += ",\"sourcetype\":";
      append_json_string(body, cfg_.sourcetype);
      if (!cfg_.index.empty()) {
        body += ",\"index\":";
        append_json_string(body, cfg_.index);
      }
      body += ",\"fields\":{";
      bool first = true;
      append_field(body, first, "type", kind_name(e));
      append_field(body, first, "priority", priority_name(e.getPriority()));
      append_field(body, first, "verdict", verdict_name(e.getVerdict()));
      append_field(body, first, "event_id", std::to_string(e.getId()));
      if (e.hasRuleIds() && e.getRuleIds().size() > 0) {
        body += ",\"rule_id\":[";  // indexed fields may be arrays of strings
        bool f = true;
        for (auto r : e.getRuleIds()) {
          if (!f) body += ',';
          f = false;
          append_json_string(body, text_of(r));
        }
        body += ']';
      }
      body += "},\"event\":";
      append_event_json_object(e, body);
      body += "}\n";
    });
    if (err) {
      body.resize(mark);
      rejected.push_back(Rejection{i, 0, *err});
    } else {
      sent.push_back(i);
    }
  }
  return body;
}

std::vector<std::string> SplunkHecSink::headers(bool compressed) const {
  std::vector<std::string> h{"Authorization: Splunk " + cfg_.token, "Content-Type: application/json",
                             "X-Splunk-Request-Channel: " + channel_};
  if (compressed) h.push_back("Content-Encoding: " + std::string(content_encoding(compression_)));
  return h;
}

SendResult SplunkHecSink::send(std::span<const OutEvent> batch) {
  std::vector<size_t> sent;
  std::vector<Rejection> rejected;
  std::string body = build_body(batch, sent, rejected);
  if (sent.empty()) {  // nothing decodable: every event goes to the DLQ, nothing to send
    SendResult r;
    r.rejected = std::move(rejected);
    r.detail = "no decodable event in batch";
    return r;
  }
  std::optional<std::string> payload = compress(compression_, body);
  if (!payload) return retry(0, "compression failed (out of memory?)");
  HttpResponse resp = http_.post(url_, headers(compression_ != Compression::none), *payload);
  SendResult r = classify(resp, sent);
  // Undecodable records are refused whatever the peer said; merge them in batch order.
  r.rejected.insert(r.rejected.end(), rejected.begin(), rejected.end());
  std::sort(r.rejected.begin(), r.rejected.end(), [](const Rejection& a, const Rejection& b) { return a.index < b.index; });
  return r;
}

SendResult SplunkHecSink::classify(const HttpResponse& resp, const std::vector<size_t>& sent) {
  if (resp.transport_error()) {
    SendResult r = retry(0, "HEC " + url_ + ": " + resp.curl_error);
    r.backpressure = resp.disconnected();  // reset/closed/timeout: the peer is shedding load
    return r;
  }
  const int http = static_cast<int>(resp.status);
  std::optional<JsonValue> answer = parse_json(resp.body);
  std::optional<int64_t> code;
  std::string text;
  if (answer && answer->is_object()) {
    if (const JsonValue* c = answer->get("code")) code = c->as_int();
    if (const JsonValue* t = answer->get("text"); t && t->type == JsonValue::Type::string) text = t->text.substr(0, 256);
  }
  const bool bp_body = body_signals_backpressure(resp.body);
  std::string what = "HEC " + std::to_string(http) + (code ? " code " + std::to_string(*code) : "") +
                     (text.empty() ? "" : " \"" + text + "\"");

  SendResult r;
  r.protocol_status = http;
  r.backpressure = resp.x_backpressure || bp_body || http == 429;
  if (resp.retry_after) r.retry_after = parse_retry_after(*resp.retry_after, clock_);

  if (http >= 200 && http < 300 && !bp_body && (!code || *code == 0)) {
    r.detail = what;
    if (!cfg_.indexer_ack) return r;
    const JsonValue* ack = answer ? answer->get("ackId") : nullptr;
    std::optional<int64_t> id = ack ? ack->as_int() : std::nullopt;
    if (!id) return permanent(http, what + ": indexer_ack is on but the answer has no ackId (ack disabled on the token?)");
    return wait_for_ack(*id, std::move(r));
  }
  if (bp_body || http == 429) {
    r.status = SendStatus::retry;
    r.detail = what + (bp_body ? ": BACKPRESSURE" : ": too many requests");
    return r;
  }
  if (code && (*code == 8 || *code == 9 || (*code >= 18 && *code <= 20))) {  // internal, busy, unhealthy
    r.status = SendStatus::retry;
    r.detail = what;
    return r;
  }
  if (code && *code >= 1 && *code <= 4) {  // token disabled / required / invalid auth / invalid token
    r.status = SendStatus::permanent;
    r.detail = what + ": authentication refused, check the token";
    return r;
  }
  if (code && *code == 6) {
    const JsonValue* n = answer->get("invalid-event-number");
    std::optional<int64_t> idx = n ? n->as_int() : std::nullopt;
    if (idx && *idx >= 0 && static_cast<size_t>(*idx) < sent.size()) {
      // One event is malformed and HEC refused the request. Alone in the request: ok + rejected
      // (it goes to the DLQ). With others: permanent + rejected naming the culprit, so the engine
      // can dead-letter it and resend the rest, or bisect (which ends in the single-event case).
      // Never retry: the same request would be refused forever.
      const size_t bad = sent[static_cast<size_t>(*idx)];
      r.status = sent.size() > 1 ? SendStatus::permanent : SendStatus::ok;
      r.rejected.push_back(Rejection{bad, http, what});
      r.detail = what + ": event " + std::to_string(bad) + " is malformed" +
                 (sent.size() > 1 ? ", the others were not taken" : "");
      return r;
    }
    r.status = SendStatus::permanent;
    r.detail = what;
    return r;
  }
  if (http >= 500 || http == 408) {  // HEC 5xx without a known code: transient
    r.status = SendStatus::retry;
    r.detail = what;
    return r;
  }
  // 4xx (no data, incorrect index, channel, event field, ack disabled, 413, ...) and anything else:
  // the batch as sent cannot be accepted; the engine splits it to isolate the cause.
  r.status = SendStatus::permanent;
  r.detail = what;
  return r;
}

SendResult SplunkHecSink::wait_for_ack(int64_t ack_id, SendResult ok) {
  const std::string body = "{\"acks\":[" + std::to_string(ack_id) + "]}";
  const std::string key = std::to_string(ack_id);
  const uint64_t deadline = clock_.mono_ns() + static_cast<uint64_t>(cfg_.ack_timeout.count()) * 1'000'000ULL;
  // Hard bound on polls as well, so an injected clock that never moves cannot spin forever.
  const int64_t max_polls = cfg_.ack_timeout.count() / std::max<int64_t>(1, cfg_.ack_poll_interval.count()) + 2;
  std::string last;
  for (int64_t poll = 0; poll < max_polls; ++poll) {
    HttpResponse resp = http_.post(ack_url_, headers(false), body);
    if (!resp.transport_error() && resp.status == 200) {
      auto v = parse_json(resp.body);
      const JsonValue* acks = v ? v->get("acks") : nullptr;
      const JsonValue* mine = acks ? acks->get(key) : nullptr;
      if (mine && mine->type == JsonValue::Type::boolean && mine->boolean) {
        ok.detail += ", indexed (ackId " + key + ")";
        return ok;
      }
      last = "ack " + key + " pending";
    } else if (!resp.transport_error() && resp.status >= 400 && resp.status < 500 && resp.status != 429) {
      // Ack refused (disabled, bad channel): indexing cannot be confirmed. The data was accepted
      // but the configuration is wrong; retrying cannot help.
      return permanent(static_cast<int>(resp.status), "HEC ack poll refused: " + resp.body.substr(0, 256));
    } else {
      last = resp.transport_error() ? resp.curl_error : "ack poll HTTP " + std::to_string(resp.status);
    }
    if (clock_.mono_ns() >= deadline) break;
    std::this_thread::sleep_for(cfg_.ack_poll_interval);
  }
  // Ambiguous: the events may be indexed or lost. Resend; HEC cannot de-duplicate.
  return retry(200, "HEC indexer ack " + key + " not confirmed within " + std::to_string(cfg_.ack_timeout.count()) +
                        " ms (" + last + "): resend, may duplicate");
}

}  // namespace ringward::shipper::sinks
