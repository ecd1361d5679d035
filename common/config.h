// ringward configuration: one TOML file with a section per process, the embedded default when no
// file is given, environment overrides RINGWARD_<SECTION>_<KEY>. Unknown keys, wrong types and
// out-of-range values fail with file, line and key. Trust: read by the supervisor (validated
// before any child starts) and again by each child from the same file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringward {

struct SupervisorConfig {
  std::string control_socket = "/run/ringward/control.sock";
  std::string run_dir = "/run/ringward";
  std::string libexec_dir;              // empty: compiled-in, then RINGWARD_LIBEXEC_DIR
  int64_t event_buffer_size = 16 << 20;  // bytes in each shared-memory ring (power of two)
  int64_t restart_backoff_initial_ms = 100;
  int64_t restart_backoff_max_ms = 30000;
  int64_t stable_after_s = 30;      // a child up this long resets its backoff
  int64_t max_restarts = 10;        // permanent failure after this many deaths ...
  int64_t restart_window_s = 120;   // ... within this window
  int64_t shutdown_timeout_s = 20;  // graceful drain bound on SIGTERM
  std::string admin_group = "ringward";
  // Health aggregation (ringwardctl health, status): the window rates are measured over, the drop
  // rate above which the pipeline is Degraded, and how old a child's heartbeat may get.
  int64_t health_window_s = 60;
  double degraded_drops_per_second = 0.0;
  int64_t stale_heartbeat_s = 15;
  // Follow the kernel log (/dev/kmsg) to name the syscall of a child killed by seccomp.
  bool seccomp_audit = true;
};

struct CaptureConfig {
  std::string source = "ebpf";  // "ebpf" | "synthetic"
  int64_t synthetic_events = 0;  // 0 = unbounded
  int64_t synthetic_rate = 0;    // events/s, 0 = as fast as possible
  int64_t synthetic_seed = 1;
  std::string host;                     // empty: gethostname()
  int64_t overflow_events = 8192;       // events held by priority while the raw ring is full
  bool http_capture = true;
  bool tls_uprobes = true;
  int64_t http_timeout_ms = 30000;
  int64_t max_argv_bytes = 512;
  std::vector<std::string> include_comm;
  std::vector<std::string> exclude_comm;
  std::vector<int64_t> include_uids;
  std::vector<int64_t> exclude_uids;
  // cgroup v2 paths as in /proc/<pid>/cgroup ("/system.slice/nginx.service"); each covers its
  // subtree. Resolved to ids when capture starts.
  std::vector<std::string> include_cgroups;
  std::vector<std::string> exclude_cgroups;
};

// [processor.http]: the operator-facing knobs of the HTTP semantics library (processor/http). Plain
// values here so common/ does not depend on the processor; processor/pipeline.cpp maps them onto
// http::HttpConfig (whose other settings keep their defaults). See docs/http-semantics.md.
struct HttpBusinessRuleConfig {
  std::string key;    // top-level JSON member of a 2xx response body
  std::string value;  // "" matches any truthy value, else a case-insensitive scalar match
  std::string error_type = "generic_business_error";
};

struct ProcessorHttpConfig {
  std::vector<std::string> route_patterns;  // "/users/{id}/orders"; a final "{*}" takes the rest
  int64_t route_cardinality_limit = 50;     // distinct literals per position before "*"
  int64_t max_series = 2000;                // (service, method, route, status_class) series
  std::vector<double> latency_buckets_s = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1.0,  2.5,   5.0,  10.0};
  bool business_errors = true;                      // inspect 2xx JSON bodies at all
  std::vector<HttpBusinessRuleConfig> business_rules;  // [[processor.http.business_rules]]
  int64_t health_window_s = 300;
  int64_t health_report_interval_s = 60;  // endpoint_health events this often
  double health_business_weight = 0.25;   // points per 0.1 % business errors (cap 50)
  double health_server_error_weight = 0.15;  // points per 1 % 5xx (cap 30)
  double health_p99_threshold_ms = 500.0;    // p99 above this costs 5 points per 100 ms (cap 20)
  double health_healthy_min = 80.0;
  double health_degraded_min = 50.0;
  double health_hysteresis = 5.0;
};

struct ProcessorConfig {
  // Identity the supervisor starts the processor as. Empty: "ringward-proc" when that user exists,
  // else root with a warning; "root": root without a warning (development only).
  std::string user;
  int64_t max_event_size = 1 << 20;    // bytes; larger records are invalid
  int64_t max_events_per_second = 10000;
  int64_t burst = 20000;
  int64_t max_memory_bytes = int64_t{1} << 30;
  int64_t clock_skew_ms = 5000;
  double backpressure_threshold = 0.60;  // out-ring utilisation where shedding levels start
  int64_t breaker_failure_threshold = 100;
  int64_t breaker_recovery_s = 30;
  int64_t breaker_success_threshold = 50;
  std::string rules_file;  // empty: the embedded default rules
  bool sandbox = true;     // seccomp + no_new_privs + rlimits (never disable in production)
  ProcessorHttpConfig http;
};

struct SinkConfig {
  std::string type;  // file | splunk_hec | otlp_http | nats_jetstream
  std::map<std::string, std::string> options;  // every other key, validated per type
  std::string origin;                          // "file:line" of the [[shipper.sinks]] table
  std::string get(std::string_view key, std::string_view dflt = "") const;
  int64_t get_int(std::string_view key, int64_t dflt) const;
  bool get_bool(std::string_view key, bool dflt) const;
};

struct ShipperConfig {
  std::string user;  // empty: "ringward-ship" when it exists, else root with a warning

  std::string buffer_dir = "/var/lib/ringward/buffer";
  std::string dlq_dir = "/var/lib/ringward/dlq";
  int64_t max_memory_buffer_mb = 64;
  int64_t max_buffer_size_mb = 1024;
  int64_t max_dlq_size_mb = 256;
  int64_t backpressure_threshold = 48 << 20;  // bytes in memory before spilling to disk
  std::string fsync = "interval";              // always | interval | batch
  int64_t fsync_interval_ms = 1000;
  std::string metrics_listen = "127.0.0.1:9464";
  std::vector<SinkConfig> sinks;
};

struct LoggingConfig {
  std::string level = "info";  // trace | debug | info | warn | error
};

struct Config {
  SupervisorConfig supervisor;
  CaptureConfig capture;
  ProcessorConfig processor;
  ShipperConfig shipper;
  LoggingConfig logging;
  std::string origin;  // the file it came from, or "<embedded default>"
};

struct ConfigResult {
  std::optional<Config> config;
  std::string error;  // "file:line: key 'x.y': what is wrong"
};

// The TOML text used when no file is given.
std::string_view embedded_default_config();
ConfigResult load_config_text(std::string_view text, std::string_view origin);
ConfigResult load_config_file(const std::string& path);
// File if non-empty, otherwise the embedded default; then environment overrides.
ConfigResult load_config(const std::string& path_or_empty);

}  // namespace ringward
