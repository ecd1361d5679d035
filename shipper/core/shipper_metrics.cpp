// Shipper metrics, stats JSON and health. Trust: shipper process.
#include "shipper/core/shipper_metrics.h"

#include <cstdio>
#include <set>

namespace ringward::shipper {

namespace {

std::string jstr(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

std::string jnum(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

}  // namespace

std::string shipper_metrics_text(const ShipperSnapshot& s) {
  PromText p;
  const auto& b = s.buffer;
  p.family("ringward_shipper_buffer_bytes", "gauge", "Bytes in the disk buffer.");
  p.sample("ringward_shipper_buffer_bytes", {}, static_cast<double>(b.bytes));
  p.family("ringward_shipper_buffer_max_bytes", "gauge", "Disk buffer cap (max_buffer_size_mb).");
  p.sample("ringward_shipper_buffer_max_bytes", {}, static_cast<double>(b.max_bytes));
  p.family("ringward_shipper_buffer_segments", "gauge", "Segment files in the disk buffer.");
  p.sample("ringward_shipper_buffer_segments", {}, static_cast<double>(b.segments));
  p.family("ringward_shipper_memory_buffer_bytes", "gauge", "Bytes in the memory buffer.");
  p.sample("ringward_shipper_memory_buffer_bytes", {}, static_cast<double>(b.memory_bytes));
  p.family("ringward_shipper_buffer_appended_total", "counter", "Events accepted into the buffer.");
  p.sample("ringward_shipper_buffer_appended_total", {}, static_cast<double>(b.appended));
  p.family("ringward_shipper_buffer_recovered_total", "counter",
           "Damaged records skipped when reading the buffer, by kind.");
  p.sample("ringward_shipper_buffer_recovered_total", {{"kind", "torn"}}, static_cast<double>(b.torn_records));
  p.sample("ringward_shipper_buffer_recovered_total", {{"kind", "corrupt"}}, static_cast<double>(b.corrupt_records));
  p.family("ringward_shipper_buffer_io_errors_total", "counter", "Buffer I/O errors, by kind.");
  p.sample("ringward_shipper_buffer_io_errors_total", {{"kind", "enospc"}}, static_cast<double>(b.enospc_errors));
  p.sample("ringward_shipper_buffer_io_errors_total", {{"kind", "other"}}, static_cast<double>(b.io_errors));
  p.family("ringward_shipper_buffer_dropped_total", "counter",
           "Events dropped from the buffer by policy, by reason.");
  for (const char* r : {kDropBufferFull, kDropBufferFullCritical, kDropDiskFull, kDropIoError}) {
    auto it = b.dropped.find(r);
    p.sample("ringward_shipper_buffer_dropped_total", {{"reason", r}},
             it == b.dropped.end() ? 0.0 : static_cast<double>(it->second));
  }
  p.family("ringward_shipper_dlq_entries", "gauge", "Events in the dead-letter queue.");
  p.sample("ringward_shipper_dlq_entries", {}, static_cast<double>(s.dlq.entries));
  p.family("ringward_shipper_dlq_bytes", "gauge", "Bytes in the dead-letter queue.");
  p.sample("ringward_shipper_dlq_bytes", {}, static_cast<double>(s.dlq.bytes));
  p.family("ringward_shipper_dlq_evicted_total", "counter", "DLQ entries removed by its size cap.");
  p.sample("ringward_shipper_dlq_evicted_total", {}, static_cast<double>(s.dlq.evicted));

  struct Fam {
    const char* name;
    const char* type;
    const char* help;
  };
  const Fam fams[] = {
      {"ringward_shipper_sink_delivered_total", "counter", "Events the sink acknowledged."},
      {"ringward_shipper_sink_dead_lettered_total", "counter", "Events sent to the DLQ."},
      {"ringward_shipper_sink_retries_total", "counter", "Retried sends."},
      {"ringward_shipper_sink_duplicates_total", "counter", "Events the peer reported as duplicates."},
      {"ringward_shipper_sink_backlog", "gauge", "Events buffered and not yet acknowledged."},
      {"ringward_shipper_sink_backpressure_seconds_total", "counter", "Time spent under backpressure."},
      {"ringward_shipper_sink_concurrency_limit", "gauge", "Adaptive in-flight request limit."},
      {"ringward_shipper_sink_breaker_opens_total", "counter", "Circuit breaker openings."},
      {"ringward_shipper_sink_state", "gauge", "1 for the sink's current state."},
      {"ringward_shipper_sink_dropped_total", "counter", "Events this sink lost to a counted policy."},
  };
  for (const auto& f : fams) {
    p.family(f.name, f.type, f.help);
    for (const auto& k : s.sinks) {
      std::string_view n = f.name;
      auto one = [&](double v) { p.sample(f.name, {{"sink", k.name}}, v); };
      if (n == "ringward_shipper_sink_delivered_total") one(static_cast<double>(k.delivered));
      else if (n == "ringward_shipper_sink_dead_lettered_total") one(static_cast<double>(k.dead_lettered));
      else if (n == "ringward_shipper_sink_retries_total") one(static_cast<double>(k.retries));
      else if (n == "ringward_shipper_sink_duplicates_total") one(static_cast<double>(k.duplicates));
      else if (n == "ringward_shipper_sink_backlog") one(static_cast<double>(k.backlog));
      else if (n == "ringward_shipper_sink_backpressure_seconds_total") one(k.backpressure_seconds);
      else if (n == "ringward_shipper_sink_concurrency_limit") one(static_cast<double>(k.concurrency_limit));
      else if (n == "ringward_shipper_sink_breaker_opens_total") one(static_cast<double>(k.breaker_opens));
      else if (n == "ringward_shipper_sink_state") {
        for (auto st : {SinkHealth::normal, SinkHealth::backpressure, SinkHealth::unavailable,
                        SinkHealth::buffer_full})
          p.sample(f.name, {{"sink", k.name}, {"state", to_string(st)}}, k.state == st ? 1.0 : 0.0);
      } else if (n == "ringward_shipper_sink_dropped_total") {
        std::set<std::string> reasons = {kDropBufferFull, kDropDiskFull, kDropDlqWriteFailed};
        for (auto& [r, v] : k.dropped) reasons.insert(r);
        for (auto& r : reasons) {
          auto it = k.dropped.find(r);
          p.sample(f.name, {{"sink", k.name}, {"reason", r}},
                   it == k.dropped.end() ? 0.0 : static_cast<double>(it->second));
        }
      }
    }
  }
  return p.str();
}

std::string shipper_stats_json(const ShipperSnapshot& s) {
  const auto& b = s.buffer;
  std::string o = "{\"buffer\":{";
  o += "\"bytes\":" + std::to_string(b.bytes) + ",\"max_bytes\":" + std::to_string(b.max_bytes);
  o += ",\"use\":" + jnum(b.max_bytes ? static_cast<double>(b.bytes) / static_cast<double>(b.max_bytes) : 0.0);
  o += ",\"segments\":" + std::to_string(b.segments) + ",\"memory_bytes\":" + std::to_string(b.memory_bytes);
  o += ",\"appended\":" + std::to_string(b.appended) + ",\"replayed_at_open\":" + std::to_string(b.replayed_at_open);
  o += ",\"torn_records\":" + std::to_string(b.torn_records) + ",\"corrupt_records\":" + std::to_string(b.corrupt_records);
  o += ",\"skipped_bytes\":" + std::to_string(b.skipped_bytes);
  o += ",\"enospc_errors\":" + std::to_string(b.enospc_errors) + ",\"io_errors\":" + std::to_string(b.io_errors);
  o += ",\"full\":" + std::string(b.full ? "true" : "false");
  o += ",\"dropped\":{";
  bool first = true;
  for (auto& [r, v] : b.dropped) {
    o += (first ? "" : ",") + jstr(r) + ":" + std::to_string(v);
    first = false;
  }
  o += "},\"last_error\":" + jstr(b.last_error) + "}";
  o += ",\"dlq\":{\"entries\":" + std::to_string(s.dlq.entries) + ",\"bytes\":" + std::to_string(s.dlq.bytes) +
       ",\"max_bytes\":" + std::to_string(s.dlq.max_bytes) + ",\"evicted\":" + std::to_string(s.dlq.evicted) +
       ",\"write_errors\":" + std::to_string(s.dlq.write_errors) + "}";
  o += ",\"sinks\":[";
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    const auto& k = s.sinks[i];
    o += i ? ",{" : "{";
    o += "\"name\":" + jstr(k.name) + ",\"state\":" + jstr(to_string(k.state));
    o += ",\"breaker\":" + jstr(to_string(k.breaker));
    o += ",\"delivered\":" + std::to_string(k.delivered) + ",\"dead_lettered\":" + std::to_string(k.dead_lettered);
    o += ",\"retries\":" + std::to_string(k.retries) + ",\"duplicates\":" + std::to_string(k.duplicates);
    o += ",\"backlog\":" + std::to_string(k.backlog) + ",\"backpressure_seconds\":" + jnum(k.backpressure_seconds);
    o += ",\"concurrency_limit\":" + std::to_string(k.concurrency_limit) + ",\"in_flight\":" + std::to_string(k.in_flight);
    o += ",\"breaker_opens\":" + std::to_string(k.breaker_opens) + ",\"splits\":" + std::to_string(k.splits);
    o += ",\"last_status\":" + std::to_string(k.last_status) + ",\"last_error\":" + jstr(k.last_error);
    o += ",\"dropped\":{";
    bool f2 = true;
    for (auto& [r, v] : k.dropped) {
      o += (f2 ? "" : ",") + jstr(r) + ":" + std::to_string(v);
      f2 = false;
    }
    o += "}}";
  }
  o += "]}";
  return o;
}

HealthReport shipper_health(const ShipperSnapshot& s) {
  HealthReport h;
  if (s.sinks.empty()) {
    h.state = HealthState::unknown;
    h.reasons.push_back("no sinks configured");
    return h;
  }
  size_t unavailable = 0;
  for (const auto& k : s.sinks) {
    if (k.state == SinkHealth::normal) continue;
    if (k.state == SinkHealth::unavailable) unavailable++;
    std::string r = "sink " + k.name + " " + to_string(k.state);
    if (!k.last_error.empty()) r += ": " + k.last_error;
    h.reasons.push_back(std::move(r));
  }
  if (s.buffer.full) h.reasons.push_back("disk buffer at its cap or disk full: dropping oldest");
  if (unavailable == s.sinks.size()) h.state = HealthState::unhealthy;
  else if (!h.reasons.empty()) h.state = HealthState::degraded;
  else h.state = HealthState::healthy;
  return h;
}

}  // namespace ringward::shipper
