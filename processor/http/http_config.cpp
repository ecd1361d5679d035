// HttpConfig validation: reject settings that would make the analyzer unbounded or meaningless.
#include "processor/http/http_config.h"

namespace ringward::http {

std::optional<std::string> HttpConfig::validate() const {
  if (parse.max_input_bytes == 0 || parse.max_input_bytes > (1U << 20)) {
    return "parse.max_input_bytes must be in 1..1048576";
  }
  if (parse.max_messages_per_buffer == 0 || parse.max_messages_per_buffer > 1024) {
    return "parse.max_messages_per_buffer must be in 1..1024";
  }
  if (parse.max_headers == 0 || parse.max_body_prefix > (1U << 20)) {
    return "parse.max_headers must be > 0 and parse.max_body_prefix <= 1048576";
  }
  for (const std::string& p : route.patterns) {
    if (p.empty() || p.front() != '/') return "route pattern '" + p + "' must start with '/'";
  }
  if (route.max_segments == 0 || route.cardinality_limit == 0 || route.max_services == 0 ||
      route.max_prefixes_per_service == 0 || route.max_host_len == 0) {
    return "route limits (max_segments, cardinality_limit, max_services, "
           "max_prefixes_per_service, max_host_len) must be > 0";
  }
  if (series.max_series == 0) return "series.max_series must be > 0";
  if (series.latency_buckets_s.empty()) return "series.latency_buckets_s must not be empty";
  for (size_t i = 0; i < series.latency_buckets_s.size(); ++i) {
    const double b = series.latency_buckets_s[i];
    if (!(b > 0.0) || b > 1e9 || (i > 0 && !(b > series.latency_buckets_s[i - 1]))) {
      return "series.latency_buckets_s must be positive, finite and strictly increasing";
    }
  }
  if (business.min_status > business.max_status) {
    return "business.min_status must be <= business.max_status";
  }
  for (const BusinessFieldRule& r : business.extra_rules) {
    if (r.key.empty() || r.error_type.empty()) return "business rule needs a key and an error_type";
  }
  if (health.window_ns == 0 || health.window_slots == 0 || health.window_slots > 3600 ||
      health.window_ns / health.window_slots == 0) {
    return "health.window_ns and health.window_slots (1..3600) must give slots of >= 1 ns";
  }
  if (health.report_interval_ns == 0) return "health.report_interval_ns must be > 0";
  if (!(health.healthy_min > health.degraded_min) || health.hysteresis < 0.0 ||
      health.p99_step_ms <= 0.0) {
    return "health: healthy_min must exceed degraded_min, hysteresis >= 0, p99_step_ms > 0";
  }
  if (health.max_endpoints == 0) return "health.max_endpoints must be > 0";
  return std::nullopt;
}

}  // namespace ringward::http
