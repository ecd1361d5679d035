// RED metrics store and Prometheus rendering. See red_metrics.h.
#include "processor/http/red_metrics.h"

#include "processor/http/exposition.h"

namespace ringward::http {
namespace {

void append_series_labels(std::string& out, const SeriesKey& k) {
  out += "service=\"";
  append_label_value(out, k.service);
  out += "\",method=\"";
  append_label_value(out, k.method);
  out += "\",route=\"";
  append_label_value(out, k.route);
  out += "\",status_class=\"";
  append_label_value(out, k.status_class);
  out += '"';
}

}  // namespace

RedMetrics::RedMetrics(const SeriesConfig& config) : config_(config) {}

const SeriesKey& RedMetrics::record(SeriesKey key, double latency_s, bool error) {
  auto it = series_.find(key);
  if (it == series_.end()) {
    const size_t regular = series_.size() - overflow_series_;
    if (regular >= config_.max_series) {
      ++overflowed_;
      key.route = std::string(kOverflowRoute);
      it = series_.find(key);
      if (it == series_.end() && overflow_series_ >= config_.overflow_reserve) {
        // The reserve is spent too: one global series per status class bounds the total.
        key.service = std::string(kOverflowService);
        key.method = "OTHER";
        it = series_.find(key);
      }
      if (it == series_.end()) {
        it = series_.emplace(key, Series(config_.latency_buckets_s.size())).first;
        ++overflow_series_;
      }
    } else {
      it = series_.emplace(key, Series(config_.latency_buckets_s.size())).first;
    }
  }
  Series& s = it->second;
  ++s.requests;
  s.errors += error ? 1 : 0;
  s.latency.observe(latency_s, config_.latency_buckets_s);
  ++total_requests_;
  return it->first;
}

void RedMetrics::record_business_error(std::string_view service, std::string_view route,
                                       std::string_view error_type) {
  BusinessKey key{std::string(service), std::string(route), std::string(error_type)};
  auto it = business_.find(key);
  if (it == business_.end()) {
    // Routes are already bounded by the request series; the types are a small fixed set plus the
    // configured ones, but bound the table anyway.
    if (business_.size() >= config_.max_series) {
      ++overflowed_;
      key = BusinessKey{std::string(kOverflowService), std::string(kOverflowRoute),
                        std::string(error_type)};
    }
    it = business_.emplace(std::move(key), 0).first;
  }
  ++it->second;
}

void RedMetrics::render(std::string& out) const {
  out += "# HELP http_requests_total HTTP requests observed, by normalised route and status class.\n";
  out += "# TYPE http_requests_total counter\n";
  for (const auto& [k, s] : series_) {
    out += "http_requests_total{";
    append_series_labels(out, k);
    out += "} ";
    append_uint(out, s.requests);
    out += '\n';
  }
  out += "# HELP http_request_errors_total HTTP requests that failed (5xx, timeout or business error).\n";
  out += "# TYPE http_request_errors_total counter\n";
  for (const auto& [k, s] : series_) {
    out += "http_request_errors_total{";
    append_series_labels(out, k);
    out += "} ";
    append_uint(out, s.errors);
    out += '\n';
  }
  out += "# HELP http_request_duration_seconds Request-to-response latency seen at the socket.\n";
  out += "# TYPE http_request_duration_seconds histogram\n";
  for (const auto& [k, s] : series_) {
    const std::vector<uint64_t> cum = s.latency.cumulative();
    for (size_t i = 0; i < cum.size(); ++i) {
      out += "http_request_duration_seconds_bucket{";
      append_series_labels(out, k);
      out += ",le=\"";
      if (i < config_.latency_buckets_s.size()) {
        append_double(out, config_.latency_buckets_s[i]);
      } else {
        out += "+Inf";
      }
      out += "\"} ";
      append_uint(out, cum[i]);
      out += '\n';
    }
    out += "http_request_duration_seconds_sum{";
    append_series_labels(out, k);
    out += "} ";
    append_double(out, s.latency.sum());
    out += "\nhttp_request_duration_seconds_count{";
    append_series_labels(out, k);
    out += "} ";
    append_uint(out, s.latency.count());
    out += '\n';
  }
  out += "# HELP api_business_errors_total Business errors found in response bodies, by type.\n";
  out += "# TYPE api_business_errors_total counter\n";
  for (const auto& [k, n] : business_) {
    out += "api_business_errors_total{service=\"";
    append_label_value(out, k.service);
    out += "\",route=\"";
    append_label_value(out, k.route);
    out += "\",error_type=\"";
    append_label_value(out, k.error_type);
    out += "\"} ";
    append_uint(out, n);
    out += '\n';
  }
}

}  // namespace ringward::http
