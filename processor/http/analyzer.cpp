// HttpAnalyzer implementation. See analyzer.h and docs/http-semantics.md.
#include "processor/http/analyzer.h"

#include <algorithm>

#include <kj/exception.h>

#include "processor/http/exposition.h"

namespace ringward::http {
namespace {

std::string_view canonical_method(std::string_view m) {
  static constexpr std::string_view kKnown[] = {"GET",     "POST",    "PUT",   "DELETE", "PATCH",
                                                "HEAD",    "OPTIONS", "TRACE", "CONNECT"};
  for (std::string_view k : kKnown) {
    if (m == k) return k;
  }
  return "OTHER";  // methods are attacker-chosen tokens; only the standard ones become labels
}

std::string_view status_class(uint16_t status) {
  switch (status / 100) {
    case 1: return "1xx";
    case 2: return "2xx";
    case 3: return "3xx";
    case 4: return "4xx";
    case 5: return "5xx";
    default: return "timeout";  // no response captured
  }
}

std::string_view as_view(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

std::string body_encoding_of(const ResponseHead& r) {
  std::string enc;
  if (r.headers.chunked) enc = "chunked";
  const char* coding = content_coding_name(r.headers.coding);
  if (*coding != '\0') {
    if (!enc.empty()) enc += '+';
    enc += coding;
  }
  return enc;
}

bool valid_fallback_target(std::string_view t) {
  if (t.empty() || t.size() > 4096) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

}  // namespace

HttpAnalyzer::HttpAnalyzer(const HttpConfig& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      routes_(config.route),
      business_(config.business),
      red_(config.series),
      health_(config.health),
      last_report_ns_(clock.mono_ns()) {}

Derived HttpAnalyzer::observe(schema::HttpExchange::Reader exchange, uint64_t mono_ns,
                              uint64_t now_ns) {
  ExchangeView v;
  try {
    // Text readers validate NUL termination; a hostile record can make any accessor throw.
    v.method = exchange.hasMethod() ? std::string_view(exchange.getMethod().cStr(),
                                                       exchange.getMethod().size())
                                    : std::string_view();
    v.target = as_view(exchange.getTarget());
    v.status = exchange.getStatus();
    v.request = as_view(exchange.getRequest());
    v.response = as_view(exchange.getResponse());
    v.latency_ns = exchange.getLatencyNs();
    v.timed_out = exchange.getTimedOut();
    v.client_role = exchange.hasRole() && exchange.getRole() == "client";
    v.local_port = exchange.getLocalPort();
    v.remote_port = exchange.getRemotePort();
  } catch (const kj::Exception&) {
    ++counters_.exchanges;
    ++counters_.bad_records;
    return Derived{};
  }
  return observe(v, mono_ns, now_ns);
}

uint64_t HttpAnalyzer::window_time(uint64_t mono_ns, uint64_t now_ns) const {
  const uint64_t now = now_ns != 0 ? now_ns : clock_.mono_ns();
  const uint64_t span = config_.health.window_ns - config_.health.window_ns / config_.health.window_slots;
  const uint64_t oldest = now > span ? now - span : 0;
  return std::clamp(mono_ns, oldest, now);
}

std::string HttpAnalyzer::service_for(const RequestHead* req, const ExchangeView& ex) {
  std::string service;
  bool from_host = false;
  if (req != nullptr && req->headers.has_host) {
    // The same Host as the last exchange: the same service (it is already admitted below).
    if (!memo_host_.empty() && req->headers.host == memo_host_) return memo_service_;
    if (auto host = normalize_host(req->headers.host, config_.route.max_host_len)) {
      service = std::move(*host);
      from_host = !service.empty();
    } else {
      ++counters_.malformed[static_cast<size_t>(Malformed::kBadHost)];
    }
  }
  if (service.empty()) service = service_from_port(ex.client_role ? ex.remote_port : ex.local_port);
  if (services_.count(service) == 0) {
    if (services_.size() >= config_.route.max_services) {
      ++counters_.service_overflow;
      return std::string(RedMetrics::kOverflowService);
    }
    services_.insert(service);
  }
  if (from_host) {  // only a Host that normalised: a bad one falls back to the port, per exchange
    memo_host_.assign(req->headers.host);
    memo_service_ = service;
  }
  return service;
}

Derived HttpAnalyzer::observe(const ExchangeView& ex, uint64_t mono_ns, uint64_t now_ns) {
  ++counters_.exchanges;
  Derived out;

  const ParseResult<RequestHead> reqs = parse_requests(ex.request, config_.parse);
  counters_.requests_parsed += reqs.messages.size();
  if (reqs.error) ++counters_.malformed[static_cast<size_t>(*reqs.error)];

  std::vector<std::string_view>& methods = methods_;
  methods.clear();
  for (const RequestHead& r : reqs.messages) methods.push_back(r.method);
  const ParseResult<ResponseHead> resps = parse_responses(ex.response, config_.parse, methods);
  counters_.responses_parsed += resps.messages.size();
  if (resps.error) ++counters_.malformed[static_cast<size_t>(*resps.error)];
  if (reqs.truncated || resps.truncated) ++counters_.truncated_buffers;

  std::vector<const ResponseHead*>& finals = finals_;
  finals.clear();
  for (const ResponseHead& r : resps.messages) {
    if (!r.interim) finals.push_back(&r);
  }

  std::vector<Req>& requests = requests_;
  requests.clear();
  for (const RequestHead& r : reqs.messages) requests.push_back({r.method, r.target, &r});
  if (requests.empty()) {
    if (ex.method.empty() || ex.method.size() > 24 || !valid_fallback_target(ex.target)) {
      ++counters_.unusable;
      return out;
    }
    requests.push_back({ex.method, ex.target, nullptr});
  }

  const uint64_t t = window_time(mono_ns, now_ns);
  const double latency_s = static_cast<double>(ex.latency_ns) / 1e9;
  for (size_t i = 0; i < requests.size(); ++i) {
    const ResponseHead* resp = i < finals.size() ? finals[i] : nullptr;
    uint16_t status = 0;
    if (resp != nullptr) {
      status = resp->status;
    } else if (i == 0 && ex.status >= 100 && ex.status <= 599) {
      status = ex.status;  // the kernel saw the status line even if the bytes did not parse
    } else if (i > 0) {
      // A later pipelined request whose response lies beyond the captured prefix: its outcome is
      // unknown, so it is counted here rather than invented as a timeout.
      ++counters_.unpaired_requests;
      continue;
    }
    if (status == 0) ++counters_.timeouts;

    const std::string service = service_for(requests[i].head, ex);
    std::string route = routes_.normalize(service, requests[i].target);

    BusinessVerdict verdict;
    std::string encoding;
    if (resp != nullptr) {
      encoding = body_encoding_of(*resp);
      if (resp->headers.chunked) ++counters_.chunked_bodies;
      if (resp->headers.coding != ContentCoding::kIdentity) ++counters_.compressed_bodies;
      verdict = business_.classify(status, resp->headers.content_type, resp->headers.coding,
                                   resp->body);
    }
    const bool business_error = !verdict.error_type.empty();
    const bool server_error = status >= 500;

    SeriesKey key{service, std::string(canonical_method(requests[i].method)), std::move(route),
                  std::string(status_class(status))};
    const SeriesKey& counted = red_.record(std::move(key), latency_s,
                                           server_error || business_error || status == 0);
    if (business_error) {
      ++counters_.business_errors;
      red_.record_business_error(counted.service, counted.route, verdict.error_type);
    }
    health_.observe(counted.service, counted.route, t, server_error, business_error, ex.latency_ns);
    ++counters_.pairs;
    ++out.pairs;

    if (out.pairs == 1) {
      out.route = counted.route;
      out.service = counted.service;
      out.body_encoding = encoding;
      out.status = status;
      out.valid = true;
    }
    if (business_error && out.business_error.empty()) out.business_error = verdict.error_type;
    if (server_error || business_error || status == 401 || status == 403) {
      out.priority = schema::Priority::HIGH;
    }
  }
  if (finals.size() > requests.size()) counters_.unpaired_responses += finals.size() - requests.size();
  return out;
}

std::vector<HealthReport> HttpAnalyzer::due_reports() {
  const uint64_t now = clock_.mono_ns();
  if (now - last_report_ns_ < config_.health.report_interval_ns && now >= last_report_ns_) return {};
  last_report_ns_ = now;
  return health_.evaluate(now);
}

void HttpAnalyzer::render_prometheus(std::string& out) const {
  red_.render(out);
  out += "# HELP api_endpoint_health_score Endpoint health 0-100 over the sliding window.\n";
  out += "# TYPE api_endpoint_health_score gauge\n";
  for (const HealthReport& r : health_.snapshot(clock_.mono_ns())) {
    out += "api_endpoint_health_score{service=\"";
    append_label_value(out, r.service);
    out += "\",route=\"";
    append_label_value(out, r.route);
    out += "\"} ";
    append_double(out, r.score);
    out += '\n';
  }
  auto gauge = [&out](std::string_view name, std::string_view type, std::string_view help,
                      uint64_t v) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out.append(name).append(" ").append(type).append("\n").append(name).append(" ");
    append_uint(out, v);
    out += '\n';
  };
  gauge("ringward_http_series", "gauge", "Live HTTP metric series.", red_.live_series());
  gauge("ringward_http_series_max", "gauge", "Configured maximum of HTTP request series.",
        red_.max_series());
  gauge("ringward_http_series_overflow_total", "counter",
        "Observations folded into /__overflow__ series.", red_.overflowed());
  gauge("ringward_http_exchanges_total", "counter", "HTTP exchanges analysed.", counters_.exchanges);
  gauge("ringward_http_truncated_total", "counter", "Captured buffers that ended inside a message.",
        counters_.truncated_buffers);
  gauge("ringward_http_unusable_total", "counter", "Exchanges with nothing parseable.",
        counters_.unusable + counters_.bad_records);
  out += "# HELP ringward_http_unpaired_total Pipelined messages without a captured partner.\n";
  out += "# TYPE ringward_http_unpaired_total counter\n";
  out += "ringward_http_unpaired_total{side=\"request\"} ";
  append_uint(out, counters_.unpaired_requests);
  out += "\nringward_http_unpaired_total{side=\"response\"} ";
  append_uint(out, counters_.unpaired_responses);
  out += "\n# HELP ringward_http_malformed_total Malformed HTTP input, by reason.\n";
  out += "# TYPE ringward_http_malformed_total counter\n";
  for (size_t i = 0; i < kMalformedCount; ++i) {
    out += "ringward_http_malformed_total{reason=\"";
    out += malformed_name(static_cast<Malformed>(i));
    out += "\"} ";
    append_uint(out, counters_.malformed[i]);
    out += '\n';
  }
}

std::string HttpAnalyzer::health_json() const {
  std::string out = "{\"endpoints\":[";
  bool first = true;
  for (const HealthReport& r : health_.snapshot(clock_.mono_ns())) {
    if (!first) out += ',';
    first = false;
    out += "{\"service\":";
    append_json_string(out, r.service);
    out += ",\"route\":";
    append_json_string(out, r.route);
    out += ",\"score\":";
    append_json_double(out, r.score);
    out += ",\"state\":";
    append_json_string(out, health_state_name(r.state));
    out += ",\"requests\":";
    append_uint(out, r.requests);
    out += ",\"error_rate_5xx\":";
    append_json_double(out, r.error_rate_5xx);
    out += ",\"business_error_rate\":";
    append_json_double(out, r.business_error_rate);
    out += ",\"p99_ms\":";
    append_json_double(out, r.p99_ms);
    out += '}';
  }
  out += "],\"window_ns\":";
  append_uint(out, config_.health.window_ns);
  out += ",\"series\":";
  append_uint(out, red_.live_series());
  out += ",\"series_max\":";
  append_uint(out, red_.max_series());
  out += ",\"series_overflow\":";
  append_uint(out, red_.overflowed());
  out += ",\"exchanges\":";
  append_uint(out, counters_.exchanges);
  out += '}';
  return out;
}

}  // namespace ringward::http
