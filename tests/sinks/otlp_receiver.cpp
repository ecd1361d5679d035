// OTLP/HTTP logs receiver for the sink tests: an independent decoder of ExportLogsServiceRequest
// (protobuf and JSON) using the field numbers of opentelemetry-proto. Trust: test only.
#include "shipper/sinks/protobuf_reader.h"
#include "tests/sinks/http_receiver.h"

namespace ringward::shipper::sinks::test {

namespace {

struct AnyValue {
  int kind = 0;  // 1 string, 3 int, 5 array
  std::string s;
  int64_t i = 0;
  std::vector<std::string> list;
};

bool read_any(std::string_view b, AnyValue& out) {
  pb::Reader r(b);
  while (r.next()) {
    if (r.field() == 1 && r.wire() == pb::kLen) { out.kind = 1; out.s = std::string(r.bytes()); }
    else if (r.field() == 3 && r.wire() == pb::kVarint) { out.kind = 3; out.i = static_cast<int64_t>(r.u64()); }
    else if (r.field() == 5 && r.wire() == pb::kLen) {
      out.kind = 5;
      pb::Reader arr(r.bytes());
      while (arr.next()) {
        if (arr.field() != 1) return false;
        AnyValue v;
        if (!read_any(arr.bytes(), v) || v.kind != 1) return false;
        out.list.push_back(v.s);
      }
      if (!arr.ok()) return false;
    } else return false;  // no other AnyValue kind is expected from ringward
  }
  return r.ok();
}

bool read_kv(std::string_view b, std::string& key, AnyValue& v) {
  pb::Reader r(b);
  while (r.next()) {
    if (r.field() == 1 && r.wire() == pb::kLen) key = std::string(r.bytes());
    else if (r.field() == 2 && r.wire() == pb::kLen) { if (!read_any(r.bytes(), v)) return false; }
    else return false;
  }
  return r.ok() && !key.empty();
}

void put_attr(OtlpRecord& rec, const std::string& k, const AnyValue& v) {
  if (v.kind == 1) rec.str_attrs[k] = v.s;
  if (v.kind == 3) rec.int_attrs[k] = v.i;
  if (v.kind == 5) rec.list_attrs[k] = v.list;
}

}  // namespace

std::optional<std::vector<OtlpRecord>> decode_otlp_protobuf(std::string_view body) {
  std::vector<OtlpRecord> out;
  pb::Reader req(body);
  while (req.next()) {
    if (req.field() != 1 || req.wire() != pb::kLen) return std::nullopt;  // resource_logs
    OtlpRecord proto;  // resource-level values copied into each record
    pb::Reader rl(req.bytes());
    std::vector<std::string_view> scope_logs;
    while (rl.next()) {
      if (rl.field() == 1 && rl.wire() == pb::kLen) {  // resource
        pb::Reader res(rl.bytes());
        while (res.next()) {
          if (res.field() != 1) return std::nullopt;
          std::string k;
          AnyValue v;
          if (!read_kv(res.bytes(), k, v)) return std::nullopt;
          if (k == "host.name") proto.host = v.s;
          if (k == "service.name") proto.service = v.s;
        }
        if (!res.ok()) return std::nullopt;
      } else if (rl.field() == 2 && rl.wire() == pb::kLen) {
        scope_logs.push_back(rl.bytes());
      } else {
        return std::nullopt;
      }
    }
    if (!rl.ok()) return std::nullopt;
    for (auto sl_bytes : scope_logs) {
      pb::Reader sl(sl_bytes);
      OtlpRecord base = proto;
      while (sl.next()) {
        if (sl.field() == 1 && sl.wire() == pb::kLen) {  // scope
          pb::Reader sc(sl.bytes());
          while (sc.next()) {
            if (sc.field() == 1) base.scope_name = std::string(sc.bytes());
            if (sc.field() == 2) base.scope_version = std::string(sc.bytes());
          }
        } else if (sl.field() == 2 && sl.wire() == pb::kLen) {  // log_records
          OtlpRecord rec = base;
          pb::Reader lr(sl.bytes());
          while (lr.next()) {
            switch (lr.field()) {
              case 1: if (lr.wire() != pb::kFixed64) return std::nullopt; rec.time_ns = lr.u64(); break;
              case 11: if (lr.wire() != pb::kFixed64) return std::nullopt; rec.observed_ns = lr.u64(); break;
              case 2: if (lr.wire() != pb::kVarint) return std::nullopt; rec.severity = static_cast<int>(lr.u64()); break;
              case 3: rec.severity_text = std::string(lr.bytes()); break;
              case 5: {
                AnyValue v;
                if (!read_any(lr.bytes(), v) || v.kind != 1) return std::nullopt;
                rec.body = v.s;
                break;
              }
              case 6: {
                std::string k;
                AnyValue v;
                if (!read_kv(lr.bytes(), k, v)) return std::nullopt;
                put_attr(rec, k, v);
                break;
              }
              default: return std::nullopt;
            }
          }
          if (!lr.ok()) return std::nullopt;
          out.push_back(std::move(rec));
        } else {
          return std::nullopt;
        }
      }
      if (!sl.ok()) return std::nullopt;
    }
  }
  if (!req.ok()) return std::nullopt;
  return out;
}

namespace {
bool json_any(const JsonValue* v, AnyValue& out) {
  if (!v || !v->is_object()) return false;
  if (auto* s = v->get("stringValue")) { out.kind = 1; out.s = s->text; return s->type == JsonValue::Type::string; }
  if (auto* i = v->get("intValue")) {
    // OTLP JSON: 64-bit integers are decimal strings.
    if (i->type != JsonValue::Type::string || !i->as_int()) return false;
    out.kind = 3;
    out.i = *i->as_int();
    return true;
  }
  if (auto* a = v->get("arrayValue")) {
    out.kind = 5;
    const JsonValue* vals = a->get("values");
    if (!vals) return false;
    for (const auto& item : vals->items) {
      AnyValue e;
      if (!json_any(&item, e) || e.kind != 1) return false;
      out.list.push_back(e.s);
    }
    return true;
  }
  return false;
}
}  // namespace

std::optional<std::vector<OtlpRecord>> decode_otlp_json(std::string_view body) {
  auto doc = parse_json(body);
  if (!doc) return std::nullopt;
  const JsonValue* rls = doc->get("resourceLogs");
  if (!rls || rls->type != JsonValue::Type::array) return std::nullopt;
  std::vector<OtlpRecord> out;
  for (const auto& rl : rls->items) {
    OtlpRecord base;
    if (const JsonValue* res = rl.get("resource")) {
      for (const auto& kv : res->get("attributes")->items) {
        AnyValue v;
        if (!json_any(kv.get("value"), v)) return std::nullopt;
        if (kv.get("key")->text == "host.name") base.host = v.s;
        if (kv.get("key")->text == "service.name") base.service = v.s;
      }
    }
    const JsonValue* sls = rl.get("scopeLogs");
    if (!sls) return std::nullopt;
    for (const auto& sl : sls->items) {
      OtlpRecord sbase = base;
      if (const JsonValue* sc = sl.get("scope")) {
        sbase.scope_name = sc->get("name")->text;
        sbase.scope_version = sc->get("version")->text;
      }
      for (const auto& lr : sl.get("logRecords")->items) {
        OtlpRecord rec = sbase;
        const JsonValue* t = lr.get("timeUnixNano");
        const JsonValue* o = lr.get("observedTimeUnixNano");
        const JsonValue* sev = lr.get("severityNumber");
        if (!t || t->type != JsonValue::Type::string || !o || !sev || sev->type != JsonValue::Type::number)
          return std::nullopt;
        rec.time_ns = std::stoull(t->text);
        rec.observed_ns = std::stoull(o->text);
        rec.severity = static_cast<int>(*sev->as_int());
        rec.severity_text = lr.get("severityText")->text;
        AnyValue b;
        if (!json_any(lr.get("body"), b)) return std::nullopt;
        rec.body = b.s;
        for (const auto& kv : lr.get("attributes")->items) {
          AnyValue v;
          if (!json_any(kv.get("value"), v)) return std::nullopt;
          put_attr(rec, kv.get("key")->text, v);
        }
        out.push_back(std::move(rec));
      }
    }
  }
  return out;
}

OtlpReceiver::OtlpReceiver() {
  server_.Post("/v1/logs", [this](const httplib::Request& req, httplib::Response& res) {
    auto decoded = decode_body(req);
    record(req, decoded.value_or(""));
    if (scripted(res)) return;
    bool json = req.get_header_value("Content-Type") == "application/json";
    auto recs = !decoded ? std::nullopt : json ? decode_otlp_json(*decoded) : decode_otlp_protobuf(*decoded);
    if (!recs) {
      ++decode_errors_;
      res.status = 400;
      res.set_content("cannot decode ExportLogsServiceRequest", "text/plain");
      return;
    }
    {
      std::lock_guard lk(mu_);
      records_.insert(records_.end(), recs->begin(), recs->end());
    }
    res.status = 200;
    if (json) res.set_content("{}", "application/json");
    else res.set_content("", "application/x-protobuf");  // empty ExportLogsServiceResponse
  });
  start();
}

std::vector<OtlpRecord> OtlpReceiver::records() const {
  std::lock_guard lk(mu_);
  return records_;
}

}  // namespace ringward::shipper::sinks::test
