// Configuration of the HTTP semantics library (parsing caps, route normalisation, series bounds,
// business-error rules, health scoring). A plain value type: the processor main fills it from the
// [processor.http] TOML section and calls validate() before constructing an HttpAnalyzer.
// Trust: configuration is trusted (root-owned file); everything it is applied to is not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ringward::http {

// Hard byte/count caps of the HTTP/1.x parser. Captured buffers are at most 1 KiB each, but the
// parser does not rely on that: anything beyond max_input_bytes is ignored and counted.
struct ParseLimits {
  size_t max_input_bytes = 4096;
  size_t max_messages_per_buffer = 16;  // pipelined requests/responses parsed per buffer
  size_t max_headers = 64;
  size_t max_body_prefix = 1024;  // decoded (de-chunked) body bytes kept for inspection
};

struct RouteConfig {
  // Configured patterns win over heuristics. Segments are literals or "{name}" (one segment);
  // a final "{*}" matches the rest of the path. Example: "/users/{id}/orders".
  std::vector<std::string> patterns;
  size_t max_segments = 12;        // deeper paths keep the first segments and end in "/{...}"
  size_t max_segment_len = 64;     // longer segments become {token}
  size_t token_min_len = 20;       // mixed-class segments at least this long become {token}
  size_t hex_min_len = 8;          // all-hex segments (with a digit) at least this long: {hex}
  size_t cardinality_limit = 50;   // distinct literals per (service, prefix) before "*"
  size_t max_prefixes_per_service = 128;
  size_t max_services = 64;        // distinct services before "__overflow__"
  size_t max_host_len = 64;
};

struct SeriesConfig {
  size_t max_series = 2000;       // (service, method, route, status_class) series
  size_t overflow_reserve = 64;   // per-(service,method) "/__overflow__" series beyond max_series
  // Upper bounds (seconds) of the Prometheus latency histogram, strictly increasing.
  std::vector<double> latency_buckets_s = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1.0,  2.5,   5.0,  10.0};
};

// A configured JSON rule: a top-level key whose value marks a business error. An empty `value`
// matches any "truthy" value (non-empty string, true, non-zero number, object, non-empty array);
// otherwise the scalar value must equal `value` (case-insensitive).
struct BusinessFieldRule {
  std::string key;
  std::string value;
  std::string error_type = "generic_business_error";
};

struct BusinessRules {
  bool enabled = true;
  // Responses with a status in [min_status, max_status] are inspected. The default inspects only
  // 2xx: a "silent" failure is one the status code does not already report.
  uint16_t min_status = 200;
  uint16_t max_status = 299;
  // `"<key>": false` is an error for these keys.
  std::vector<std::string> false_means_error_keys = {"success", "ok"};
  // `"status": "<value>"` is an error for these values (case-insensitive).
  std::vector<std::string> status_error_values = {"error", "fail", "failed", "failure"};
  // `"code"`/`"error_code"` string values containing one of these (case-insensitive) are errors.
  std::vector<std::string> code_error_substrings = {"error", "fail", "denied", "invalid",
                                                    "insufficient", "exceeded", "unauthori"};
  // A top-level `"error"` key with a truthy value is an error.
  bool error_key_is_error = true;
  // GraphQL: `errors` (non-empty array) with non-null `data` is a partial success, never an
  // error. Without `data` (or with `"data": null`) it is an error when this is set.
  bool graphql_errors_without_data_is_error = true;
  std::vector<BusinessFieldRule> extra_rules;
};

struct HealthConfig {
  uint64_t window_ns = 300'000'000'000ULL;  // sliding window (5 min)
  uint32_t window_slots = 10;               // sub-windows; expiry granularity = window/slots
  uint64_t report_interval_ns = 60'000'000'000ULL;
  // score = 100 - min(ber * business_scale * business_weight, business_cap)
  //             - min(r5xx * server_scale * server_weight, server_cap)
  //             - (p99 > p99_threshold_ms ? min((p99 - thr)/p99_step_ms * p99_points, p99_cap) : 0)
  double business_scale = 1000.0, business_weight = 0.25, business_cap = 50.0;
  double server_scale = 100.0, server_weight = 0.15, server_cap = 30.0;
  double p99_threshold_ms = 500.0, p99_step_ms = 100.0, p99_points = 5.0, p99_cap = 20.0;
  double healthy_min = 80.0;     // score >= healthy_min: healthy
  double degraded_min = 50.0;    // score >= degraded_min: degraded, else unhealthy
  double hysteresis = 5.0;       // recovering to a better state needs threshold + hysteresis
  size_t max_endpoints = 2000;
};

struct HttpConfig {
  ParseLimits parse;
  RouteConfig route;
  SeriesConfig series;
  BusinessRules business;
  HealthConfig health;

  // Returns a description of the first invalid setting, or nullopt when the config is usable.
  std::optional<std::string> validate() const;
};

}  // namespace ringward::http
