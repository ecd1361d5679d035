#include "common/config.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace ringward {
namespace {

constexpr std::string_view kDefaultConfig = R"toml(# ringward embedded default configuration
[supervisor]
control_socket = "/run/ringward/control.sock"
run_dir = "/run/ringward"

[capture]
source = "ebpf"

[processor]
max_events_per_second = 10000

[shipper]
buffer_dir = "/var/lib/ringward/buffer"
dlq_dir = "/var/lib/ringward/dlq"
metrics_listen = "127.0.0.1:9464"

[[shipper.sinks]]
type = "file"
path = "/var/lib/ringward/events.ndjson"
)toml";

struct ConfigFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Binds the keys of one section, remembering which it saw so unknown keys can be reported. An
// environment variable RINGWARD_<SECTION>_<KEY> wins over the file.
class Section {
 public:
  Section(const toml::table* table, std::string name, std::string origin)
      : table_(table), name_(std::move(name)), origin_(std::move(origin)) {}

  void str(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed = {}) {
    const toml::node* v = value(key);
    if (auto e = env(key)) {
      out = *e;
    } else if (v) {
      auto s = v->value<std::string>();
      if (!s) fail(key, *v, "expected a string");
      out = *s;
    } else {
      return check_allowed(key, out, allowed, nullptr);
    }
    check_allowed(key, out, allowed, v);
  }

  void integer(std::string_view key, int64_t& out, int64_t lo, int64_t hi) {
    const toml::node* v = value(key);
    if (v && !env(key)) {
      auto i = v->value_exact<int64_t>();
      if (!i) fail(key, *v, "expected an integer");
      out = *i;
    } else if (auto e = env(key)) {
      v = nullptr;
      try {
        size_t used = 0;
        out = std::stoll(*e, &used, 0);
        if (used != e->size()) throw std::invalid_argument("trailing characters");
      } catch (const std::exception&) {
        throw ConfigFailure(fmt::format("environment {}: key '{}.{}': expected an integer, got '{}'",
                                        env_name(key), name_, key, *e));
      }
    } else {
      return;
    }
    if (out < lo || out > hi) fail(key, v, fmt::format("{} is out of range [{}, {}]", out, lo, hi));
  }

  void real(std::string_view key, double& out, double lo, double hi) {
    const toml::node* v = value(key);
    if (v && !env(key)) {
      auto d = v->value<double>();
      if (!d) fail(key, *v, "expected a number");
      out = *d;
    } else if (auto e = env(key)) {
      v = nullptr;
      char* end = nullptr;
      out = std::strtod(e->c_str(), &end);
      if (end == e->c_str() || *end != '\0')
        throw ConfigFailure(fmt::format("environment {}: key '{}.{}': expected a number, got '{}'",
                                        env_name(key), name_, key, *e));
    } else {
      return;
    }
    if (!(out >= lo && out <= hi)) fail(key, v, fmt::format("{} is out of range [{}, {}]", out, lo, hi));
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* v = value(key);
    if (v && !env(key)) {
      auto b = v->value_exact<bool>();
      if (!b) fail(key, *v, "expected true or false");
      out = *b;
    } else if (auto e = env(key)) {
      if (*e == "true" || *e == "1") out = true;
      else if (*e == "false" || *e == "0") out = false;
      else
        throw ConfigFailure(fmt::format("environment {}: key '{}.{}': expected true or false, got '{}'",
                                        env_name(key), name_, key, *e));
    }
  }

  // An array of T, at most `max_n` elements, each passing `check` ("" or what is wrong with it).
  template <class T, class Check>
  void list(std::string_view key, std::vector<T>& out, size_t max_n, Check check) {
    const toml::node* v = value(key);
    if (!v) return;
    const auto* arr = v->as_array();
    if (!arr) fail(key, *v, "expected an array");
    if (arr->size() > max_n) fail(key, *v, fmt::format("at most {} entries, got {}", max_n, arr->size()));
    out.clear();
    for (const auto& el : *arr) {
      auto x = el.value_exact<T>();
      if (!x) fail(key, el, "array element has the wrong type");
      if (std::string bad = check(*x); !bad.empty()) fail(key, el, bad);
      out.push_back(*x);
    }
  }
  template <class T>
  void list(std::string_view key, std::vector<T>& out) {
    list(key, out, SIZE_MAX, [](const T&) { return std::string(); });
  }

  // Every key of the table must have been bound.
  void reject_unknown() const {
    if (!table_) return;
    for (const auto& [k, v] : *table_) {
      if (!seen_.count(std::string(k.str())) && !ignored_.count(std::string(k.str())))
        fail(k.str(), &v, "unknown key");
    }
  }
  void ignore(std::string_view key) { ignored_.insert(std::string(key)); }

  [[noreturn]] void fail(std::string_view key, const toml::node* v, std::string_view what) const {
    std::string where = origin_;
    if (v && v->source().begin.line) where += fmt::format(":{}", v->source().begin.line);
    throw ConfigFailure(fmt::format("{}: key '{}.{}': {}", where, name_, key, what));
  }
  [[noreturn]] void fail(std::string_view key, const toml::node& v, std::string_view what) const {
    fail(key, &v, what);
  }

 private:
  const toml::node* value(std::string_view key) {
    seen_.insert(std::string(key));
    return table_ ? table_->get(key) : nullptr;
  }
  std::string env_name(std::string_view key) const {
    // A nested section ("processor.http") maps to RINGWARD_PROCESSOR_HTTP_<KEY>.
    std::string section = upper(name_);
    std::replace(section.begin(), section.end(), '.', '_');
    return "RINGWARD_" + section + "_" + upper(key);
  }
  std::optional<std::string> env(std::string_view key) const {
    const char* e = std::getenv(env_name(key).c_str());
    if (!e) return std::nullopt;
    return std::string(e);
  }
  void check_allowed(std::string_view key, const std::string& v,
                     std::initializer_list<std::string_view> allowed, const toml::node* node) const {
    if (allowed.size() == 0) return;
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    fail(key, node, fmt::format("'{}' is not one of: {}", v, list));
  }

  const toml::table* table_;
  std::string name_;
  std::string origin_;
  std::set<std::string> seen_;
  std::set<std::string> ignored_;
};

const toml::table* subtable(const toml::table& root, std::string_view name, const std::string& origin) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  const toml::table* t = n->as_table();
  if (!t)
    throw ConfigFailure(fmt::format("{}:{}: key '{}': expected a table", origin,
                                    n->source().begin.line, name));
  return t;
}

// [processor.http]: validated here, at load time, so a bad value fails with file, line and key
// before any child starts (the processor validates the mapped http::HttpConfig once more).
void parse_processor_http(const toml::table* processor_table, const std::string& origin,
                          ProcessorHttpConfig& h) {
  const toml::table* t = nullptr;
  if (processor_table) {
    if (const toml::node* n = processor_table->get("http")) {
      t = n->as_table();
      if (!t)
        throw ConfigFailure(fmt::format("{}:{}: key 'processor.http': expected a table", origin,
                                        n->source().begin.line));
    }
  }
  Section sec(t, "processor.http", origin);
  auto element = [&](std::string_view key, size_t i) -> const toml::node* {
    const toml::array* arr = t ? t->get(key)->as_array() : nullptr;
    return arr ? arr->get(i) : nullptr;
  };

  sec.list("route_patterns", h.route_patterns);
  if (h.route_patterns.size() > 256)
    sec.fail("route_patterns", t->get("route_patterns"), "at most 256 patterns");
  for (size_t i = 0; i < h.route_patterns.size(); ++i) {
    const std::string& p = h.route_patterns[i];
    bool printable = std::all_of(p.begin(), p.end(), [](char c) { return c > ' ' && c < 0x7f; });
    if (p.empty() || p.front() != '/' || p.size() > 512 || !printable)
      sec.fail("route_patterns", element("route_patterns", i),
               fmt::format("pattern '{}' must start with '/' and be at most 512 printable "
                           "characters without spaces", p));
  }
  sec.integer("route_cardinality_limit", h.route_cardinality_limit, 1, 100000);
  sec.integer("max_series", h.max_series, 1, 1'000'000);

  if (const toml::node* v = t ? t->get("latency_buckets_s") : nullptr) {
    const toml::array* arr = v->as_array();
    if (!arr) sec.fail("latency_buckets_s", v, "expected an array of numbers");
    if (arr->empty() || arr->size() > 64)
      sec.fail("latency_buckets_s", v, "needs 1 to 64 bucket bounds");
    h.latency_buckets_s.clear();
    for (const auto& el : *arr) {
      auto d = el.value<double>();
      if (!d) sec.fail("latency_buckets_s", el, "array element is not a number");
      if (!(*d > 0.0 && *d <= 86400.0) ||
          (!h.latency_buckets_s.empty() && !(*d > h.latency_buckets_s.back())))
        sec.fail("latency_buckets_s", el,
                 fmt::format("{} must be in (0, 86400] and greater than the previous bound", *d));
      h.latency_buckets_s.push_back(*d);
    }
  }
  sec.ignore("latency_buckets_s");

  sec.boolean("business_errors", h.business_errors);
  sec.ignore("business_rules");
  if (const toml::node* v = t ? t->get("business_rules") : nullptr) {
    const toml::array* arr = v->as_array();
    if (!arr) sec.fail("business_rules", v, "expected an array of tables ([[processor.http.business_rules]])");
    if (arr->size() > 64) sec.fail("business_rules", v, "at most 64 rules");
    // The error type becomes a metric label: keep it to the documented, bounded set.
    static const std::set<std::string> kTypes = {"rate_limit", "auth_failure", "insufficient_funds",
                                                 "validation", "generic_business_error"};
    for (const auto& el : *arr) {
      const toml::table* rt = el.as_table();
      if (!rt) sec.fail("business_rules", el, "expected a table");
      // Read directly, not through Section::str: an environment variable must not rewrite
      // every rule at once.
      Section rule(rt, "processor.http.business_rules", origin);
      for (const char* k : {"key", "value", "error_type"}) rule.ignore(k);
      HttpBusinessRuleConfig r;
      const toml::node* key = rt->get("key");
      if (key) {
        auto ks = key->value_exact<std::string>();
        if (!ks) rule.fail("key", key, "expected a string");
        r.key = *ks;
      }
      if (r.key.empty() || r.key.size() > 128)
        rule.fail("key", key ? key : &el, "required: a JSON member name (1-128 bytes)");
      if (const toml::node* val = rt->get("value")) {
        if (auto sv = val->value_exact<std::string>()) r.value = *sv;
        else if (auto iv = val->value_exact<int64_t>()) r.value = std::to_string(*iv);
        else if (auto bv = val->value_exact<bool>()) r.value = *bv ? "true" : "false";
        else rule.fail("value", val, "expected a string, integer or boolean");
        if (r.value.size() > 256) rule.fail("value", val, "at most 256 bytes");
      }
      const toml::node* type = rt->get("error_type");
      if (type) {
        auto ts = type->value_exact<std::string>();
        if (!ts) rule.fail("error_type", type, "expected a string");
        r.error_type = *ts;
      }
      if (!kTypes.count(r.error_type))
        rule.fail("error_type", type,
                  fmt::format("'{}' is not one of: rate_limit, auth_failure, insufficient_funds, "
                              "validation, generic_business_error", r.error_type));
      rule.reject_unknown();
      h.business_rules.push_back(std::move(r));
    }
  }

  sec.integer("health_window_s", h.health_window_s, 10, 86400);
  sec.integer("health_report_interval_s", h.health_report_interval_s, 1, 86400);
  sec.real("health_business_weight", h.health_business_weight, 0.0, 100.0);
  sec.real("health_server_error_weight", h.health_server_error_weight, 0.0, 100.0);
  sec.real("health_p99_threshold_ms", h.health_p99_threshold_ms, 1.0, 3'600'000.0);
  sec.real("health_healthy_min", h.health_healthy_min, 0.0, 100.0);
  sec.real("health_degraded_min", h.health_degraded_min, 0.0, 100.0);
  sec.real("health_hysteresis", h.health_hysteresis, 0.0, 50.0);
  if (!(h.health_degraded_min < h.health_healthy_min))
    sec.fail("health_degraded_min", t ? t->get("health_degraded_min") : nullptr,
             fmt::format("{} must be below health_healthy_min ({})", h.health_degraded_min,
                         h.health_healthy_min));
  sec.reject_unknown();
}

// Keys each sink type accepts besides `type`; values are validated by the sink factory too.
const std::map<std::string, std::set<std::string>>& sink_keys() {
  static const std::map<std::string, std::set<std::string>> keys = {
      {"file", {"path", "max_file_mb", "max_files"}},
      {"splunk_hec",
       {"endpoint", "token", "index", "sourcetype", "source", "indexer_ack", "ack_timeout_ms",
        "timeout_ms", "tls_verify"}},
      {"otlp_http", {"endpoint", "encoding", "timeout_ms", "headers", "tls_verify"}},
      {"nats_jetstream",
       {"url", "stream", "subject", "create_stream", "replicas", "max_pending", "timeout_ms"}},
  };
  return keys;
}
const std::set<std::string> kCommonSinkKeys = {"batch_size", "flush_interval", "compression",
                                                "max_retries", "name"};

SinkConfig parse_sink(const toml::table& t, const std::string& origin) {
  SinkConfig s;
  int line = static_cast<int>(t.source().begin.line);
  s.origin = line ? fmt::format("{}:{}", origin, line) : origin;
  const toml::node* type = t.get("type");
  if (!type || !type->is_string())
    throw ConfigFailure(fmt::format("{}: key 'shipper.sinks.type': required string (file, "
                                    "splunk_hec, otlp_http, nats_jetstream)", s.origin));
  s.type = *type->value<std::string>();
  auto it = sink_keys().find(s.type);
  if (it == sink_keys().end())
    throw ConfigFailure(fmt::format("{}: key 'shipper.sinks.type': unknown sink type '{}'", s.origin,
                                    s.type));
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (key == "type") continue;
    std::string where = v.source().begin.line
                            ? fmt::format("{}:{}", origin, v.source().begin.line)
                            : s.origin;
    if (!it->second.count(key) && !kCommonSinkKeys.count(key))
      throw ConfigFailure(fmt::format("{}: key 'shipper.sinks.{}': unknown key for a '{}' sink",
                                      where, key, s.type));
    if (auto str = v.value_exact<std::string>()) s.options[key] = *str;
    else if (auto i = v.value_exact<int64_t>()) s.options[key] = std::to_string(*i);
    else if (auto d = v.value_exact<double>()) s.options[key] = fmt::format("{}", *d);
    else if (auto b = v.value_exact<bool>()) s.options[key] = *b ? "true" : "false";
    else
      throw ConfigFailure(fmt::format("{}: key 'shipper.sinks.{}': expected a string, number or "
                                      "boolean", where, key));
  }
  auto need = [&](const char* key) {
    if (!s.options.count(key))
      throw ConfigFailure(fmt::format("{}: key 'shipper.sinks.{}': required for a '{}' sink",
                                      s.origin, key, s.type));
  };
  if (s.type == "file") need("path");
  if (s.type == "splunk_hec") { need("endpoint"); need("token"); }
  if (s.type == "otlp_http") need("endpoint");
  if (s.type == "nats_jetstream") { need("url"); need("stream"); need("subject"); }
  if (s.options.count("batch_size") && s.get_int("batch_size", 0) <= 0)
    throw ConfigFailure(fmt::format("{}: key 'shipper.sinks.batch_size': must be > 0", s.origin));
  return s;
}

Config parse(const toml::table& root, const std::string& origin) {
  Config c;
  c.origin = origin;
  static const std::set<std::string> kSections = {"supervisor", "capture", "processor", "shipper",
                                                   "logging"};
  for (const auto& [k, v] : root)
    if (!kSections.count(std::string(k.str())))
      throw ConfigFailure(fmt::format("{}:{}: key '{}': unknown section", origin,
                                      v.source().begin.line, k.str()));

  Section sup(subtable(root, "supervisor", origin), "supervisor", origin);
  auto& s = c.supervisor;
  sup.str("control_socket", s.control_socket);
  sup.str("run_dir", s.run_dir);
  sup.str("libexec_dir", s.libexec_dir);
  sup.integer("event_buffer_size", s.event_buffer_size, 64 << 10, int64_t{1} << 30);
  if (s.event_buffer_size & (s.event_buffer_size - 1))
    sup.fail("event_buffer_size", nullptr, "must be a power of two");
  sup.integer("restart_backoff_initial_ms", s.restart_backoff_initial_ms, 1, 60000);
  sup.integer("restart_backoff_max_ms", s.restart_backoff_max_ms, 1, 3600000);
  sup.integer("stable_after_s", s.stable_after_s, 1, 86400);
  sup.integer("max_restarts", s.max_restarts, 1, 1000000);
  sup.integer("restart_window_s", s.restart_window_s, 1, 86400);
  sup.integer("shutdown_timeout_s", s.shutdown_timeout_s, 1, 3600);
  sup.str("admin_group", s.admin_group);
  sup.integer("health_window_s", s.health_window_s, 5, 86400);
  sup.real("degraded_drops_per_second", s.degraded_drops_per_second, 0, 1e9);
  sup.integer("stale_heartbeat_s", s.stale_heartbeat_s, 1, 86400);
  sup.boolean("seccomp_audit", s.seccomp_audit);
  sup.reject_unknown();

  Section cap(subtable(root, "capture", origin), "capture", origin);
  auto& k = c.capture;
  cap.str("source", k.source, {"ebpf", "synthetic"});
  cap.integer("synthetic_events", k.synthetic_events, 0, int64_t{1} << 50);
  cap.integer("synthetic_rate", k.synthetic_rate, 0, 100'000'000);
  cap.integer("synthetic_seed", k.synthetic_seed, 0, INT64_MAX);
  cap.str("host", k.host);
  cap.integer("overflow_events", k.overflow_events, 16, 1 << 22);
  cap.boolean("http_capture", k.http_capture);
  cap.boolean("tls_uprobes", k.tls_uprobes);
  cap.integer("http_timeout_ms", k.http_timeout_ms, 10, 3600000);
  cap.integer("max_argv_bytes", k.max_argv_bytes, 0, 4096);
  // The kernel filters' limits (bpf/events.h): 64 names, 16 uids and 16 cgroups per list.
  auto comm_ok = [](const std::string& c) {
    return c.empty() || c.size() > 15 ? fmt::format("'{}': a process name is 1-15 bytes", c) : std::string();
  };
  auto uid_ok = [](int64_t u) {
    return u < 0 || u > 4294967294LL ? fmt::format("{} is not a uid (0 ... 4294967294)", u) : std::string();
  };
  auto cgroup_ok = [](const std::string& p) {
    if (p.size() > 4096) return fmt::format("a cgroup path of {} bytes (at most 4096)", p.size());
    if (p.empty() || p[0] != '/')
      return fmt::format("'{}': a cgroup is written as in /proc/<pid>/cgroup, from '/'", p);
    for (size_t i = 0; i < p.size();) {
      const size_t end = std::min(p.find('/', i), p.size());
      const std::string_view part(p.data() + i, end - i);
      if (part == "." || part == "..") return fmt::format("'{}': no '.' or '..' components", p);
      i = end + 1;
    }
    return std::string();
  };
  auto excluded_cgroup_ok = [&](const std::string& p) {
    if (p.find_first_not_of('/') == std::string::npos && !p.empty())
      return fmt::format("'{}' is the root cgroup: excluding it would capture nothing", p);
    return cgroup_ok(p);
  };
  cap.list("include_comm", k.include_comm, 64, comm_ok);
  cap.list("exclude_comm", k.exclude_comm, 64, comm_ok);
  cap.list("include_uids", k.include_uids, 16, uid_ok);
  cap.list("exclude_uids", k.exclude_uids, 16, uid_ok);
  cap.list("include_cgroups", k.include_cgroups, 16, cgroup_ok);
  cap.list("exclude_cgroups", k.exclude_cgroups, 16, excluded_cgroup_ok);
  cap.reject_unknown();

  const toml::table* processor_table = subtable(root, "processor", origin);
  Section proc(processor_table, "processor", origin);
  auto& p = c.processor;
  proc.str("user", p.user);
  proc.integer("max_event_size", p.max_event_size, 1024, 64 << 20);
  proc.integer("max_events_per_second", p.max_events_per_second, 1, 100'000'000);
  proc.integer("burst", p.burst, 1, 1'000'000'000);
  proc.integer("max_memory_bytes", p.max_memory_bytes, 16 << 20, int64_t{1} << 40);
  proc.integer("clock_skew_ms", p.clock_skew_ms, 0, 3600000);
  proc.real("backpressure_threshold", p.backpressure_threshold, 0.05, 0.95);
  proc.integer("breaker_failure_threshold", p.breaker_failure_threshold, 1, 1'000'000);
  proc.integer("breaker_recovery_s", p.breaker_recovery_s, 1, 86400);
  proc.integer("breaker_success_threshold", p.breaker_success_threshold, 1, 1'000'000);
  proc.str("rules_file", p.rules_file);
  proc.boolean("sandbox", p.sandbox);
  proc.ignore("http");
  proc.reject_unknown();
  parse_processor_http(processor_table, origin, p.http);

  const toml::table* shipper_table = subtable(root, "shipper", origin);
  Section ship(shipper_table, "shipper", origin);
  auto& sh = c.shipper;
  ship.str("user", sh.user);
  ship.str("buffer_dir", sh.buffer_dir);
  ship.str("dlq_dir", sh.dlq_dir);
  ship.integer("max_memory_buffer_mb", sh.max_memory_buffer_mb, 1, 1 << 20);
  ship.integer("max_buffer_size_mb", sh.max_buffer_size_mb, 1, 1 << 24);
  ship.integer("max_dlq_size_mb", sh.max_dlq_size_mb, 1, 1 << 24);
  ship.integer("backpressure_threshold", sh.backpressure_threshold, 1 << 16, int64_t{1} << 40);
  ship.str("fsync", sh.fsync, {"always", "interval", "batch"});
  ship.integer("fsync_interval_ms", sh.fsync_interval_ms, 1, 3600000);
  ship.str("metrics_listen", sh.metrics_listen);
  ship.ignore("sinks");
  ship.reject_unknown();
  if (shipper_table) {
    if (const toml::node* sinks = shipper_table->get("sinks")) {
      const toml::array* arr = sinks->as_array();
      if (!arr)
        ship.fail("sinks", sinks, "expected an array of tables ([[shipper.sinks]])");
      for (const auto& el : *arr) {
        const toml::table* t = el.as_table();
        if (!t) ship.fail("sinks", &el, "expected a table");
        sh.sinks.push_back(parse_sink(*t, origin));
      }
    }
  }
  if (sh.sinks.empty())
    throw ConfigFailure(fmt::format("{}: key 'shipper.sinks': at least one sink is required", origin));

  Section log(subtable(root, "logging", origin), "logging", origin);
  log.str("level", c.logging.level, {"trace", "debug", "info", "warn", "error"});
  log.reject_unknown();
  return c;
}

}  // namespace

std::string SinkConfig::get(std::string_view key, std::string_view dflt) const {
  auto it = options.find(std::string(key));
  return it == options.end() ? std::string(dflt) : it->second;
}
int64_t SinkConfig::get_int(std::string_view key, int64_t dflt) const {
  auto it = options.find(std::string(key));
  if (it == options.end()) return dflt;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return dflt;
  }
}
bool SinkConfig::get_bool(std::string_view key, bool dflt) const {
  auto it = options.find(std::string(key));
  if (it == options.end()) return dflt;
  return it->second == "true";
}

std::string_view embedded_default_config() { return kDefaultConfig; }

ConfigResult load_config_text(std::string_view text, std::string_view origin) {
  ConfigResult r;
  try {
    toml::table root = toml::parse(text, origin);
    r.config = parse(root, std::string(origin));
  } catch (const toml::parse_error& e) {
    r.error = fmt::format("{}:{}:{}: {}", origin, e.source().begin.line, e.source().begin.column,
                          e.description());
  } catch (const ConfigFailure& e) {
    r.error = e.what();
  }
  return r;
}

ConfigResult load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ConfigResult{std::nullopt, fmt::format("{}: cannot read the file", path)};
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path);
}

ConfigResult load_config(const std::string& path_or_empty) {
  if (path_or_empty.empty()) return load_config_text(kDefaultConfig, "<embedded default>");
  return load_config_file(path_or_empty);
}

}  // namespace ringward
