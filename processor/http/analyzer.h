// HttpAnalyzer: the one facade the processor calls for every captured HTTP exchange. It parses the
// captured request/response buffers (pipelined messages paired in order), derives the labels the
// outgoing event carries (route, service, business error, body encoding) and a priority hint, and
// aggregates RED metrics, business-error counts and per-endpoint health scores.
// Trust: runs in the sandboxed processor on attacker-controlled bytes. Memory is bounded by the
// configuration (series, services, prefixes, endpoints); every failure is counted, nothing throws.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "event.capnp.h"
#include "processor/http/business.h"
#include "processor/http/health.h"
#include "processor/http/http_config.h"
#include "processor/http/http_parse.h"
#include "processor/http/red_metrics.h"
#include "processor/http/route.h"

namespace ringward::http {

// The fields of a captured exchange the analyzer uses, independent of Cap'n Proto (tests, fuzzing).
struct ExchangeView {
  std::string_view method;    // kernel-parsed, used when the request bytes do not parse
  std::string_view target;
  uint16_t status = 0;
  std::string_view request;   // captured request bytes (<= 1 KiB from capture)
  std::string_view response;
  uint64_t latency_ns = 0;
  bool timed_out = false;
  bool client_role = false;   // the traced process made the request ("client")
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
};

struct Derived {
  std::string route;           // normalised route of the first request
  std::string service;
  std::string business_error;  // first business error among the pairs, "" when none
  std::string body_encoding;   // "", "chunked", "gzip", "chunked+gzip", ...
  schema::Priority priority = schema::Priority::NORMAL;  // HIGH for 5xx, 401/403, business errors
  uint16_t status = 0;         // status of the first pair (0: no response)
  uint32_t pairs = 0;          // request/response pairs accounted in the metrics
  bool valid = false;          // false: nothing usable (counted under a malformed reason)
};

struct HttpCounters {
  uint64_t exchanges = 0;
  uint64_t requests_parsed = 0;
  uint64_t responses_parsed = 0;
  uint64_t pairs = 0;
  uint64_t unpaired_requests = 0;   // pipelined requests whose response was not captured
  uint64_t unpaired_responses = 0;  // responses beyond the captured requests
  uint64_t truncated_buffers = 0;   // normal: capture keeps a prefix
  uint64_t timeouts = 0;
  uint64_t business_errors = 0;
  uint64_t chunked_bodies = 0;
  uint64_t compressed_bodies = 0;
  uint64_t bad_records = 0;         // Cap'n Proto reader threw (malformed record)
  uint64_t unusable = 0;            // exchanges with no method/target at all
  uint64_t service_overflow = 0;
  std::array<uint64_t, kMalformedCount> malformed{};
};

class HttpAnalyzer {
 public:
  // `config` must have passed validate(); `clock` must outlive the analyzer.
  HttpAnalyzer(const HttpConfig& config, const Clock& clock);
  HttpAnalyzer(const HttpAnalyzer&) = delete;
  HttpAnalyzer& operator=(const HttpAnalyzer&) = delete;

  // `mono_ns` is the event's capture time (CLOCK_MONOTONIC); it places the exchange in the health
  // window, clamped to the window ending at clock.mono_ns().
  // `now_ns`: the caller's clock reading (e.g. one per batch); 0 reads the clock.
  Derived observe(schema::HttpExchange::Reader exchange, uint64_t mono_ns, uint64_t now_ns = 0);
  Derived observe(const ExchangeView& exchange, uint64_t mono_ns, uint64_t now_ns = 0);

  // Appends the Prometheus text exposition (RED, business errors, health gauge, own counters).
  void render_prometheus(std::string& out) const;
  // {"endpoints":[...], "series":N, ...} for `ringwardctl health`.
  std::string health_json() const;
  // Health reports once per report interval (empty otherwise); advances the hysteresis states.
  std::vector<HealthReport> due_reports();

  const HttpCounters& counters() const { return counters_; }
  size_t live_series() const { return red_.live_series(); }
  uint64_t series_overflowed() const { return red_.overflowed(); }
  const RedMetrics& red() const { return red_; }

 private:
  std::string service_for(const RequestHead* req, const ExchangeView& ex);
  uint64_t window_time(uint64_t mono_ns, uint64_t now_ns) const;

  // One request of an exchange: parsed, or the kernel's method/target when the bytes do not parse.
  struct Req {
    std::string_view method;
    std::string_view target;
    const RequestHead* head;
  };

  HttpConfig config_;
  const Clock& clock_;
  RouteNormalizer routes_;
  BusinessErrorDetector business_;
  RedMetrics red_;
  HealthTracker health_;
  std::unordered_set<std::string> services_;
  HttpCounters counters_;
  uint64_t last_report_ns_;
  // Per-exchange scratch, kept to reuse its capacity (observe() runs for every exchange).
  std::vector<std::string_view> methods_;
  std::vector<const ResponseHead*> finals_;
  std::vector<Req> requests_;
  // The last Host header seen and the service it gave (traffic comes in runs per host).
  std::string memo_host_;
  std::string memo_service_;
};

}  // namespace ringward::http
