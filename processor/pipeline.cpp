#include "processor/pipeline.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <capnp/message.h>
#include <kj/exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/sandbox/sandbox.h"
#include "processor/stages/priority.h"
#include "processor/stages/seccomp_policy.h"

namespace ringward::processor {
namespace {

constexpr uint64_t kSampleIntervalNs = 10'000'000'000ULL;  // one invalid sample per reason per 10 s
constexpr uint64_t kTickNs = 1'000'000'000ULL;

ValidationConfig validation_config(const ProcessorConfig& cfg) {
  ValidationConfig v;
  v.max_record_bytes = static_cast<size_t>(cfg.max_event_size);
  v.future_skew_ns = static_cast<uint64_t>(cfg.clock_skew_ms) * 1'000'000ULL;
  if (auto pm = read_pid_max()) v.pid_max = *pm;
  return v;
}

detect::Engine load_rules(const ProcessorConfig& cfg) {
  if (cfg.rules_file.empty()) {
    auto e = detect::Engine::load_default();
    if (!e) throw std::runtime_error("embedded rules: " + e.error().to_string());
    return std::move(e).value();
  }
  std::ifstream f(cfg.rules_file);
  if (!f) throw std::runtime_error("cannot read rules file " + cfg.rules_file);
  std::stringstream ss;
  ss << f.rdbuf();
  auto e = detect::Engine::load(ss.str(), cfg.rules_file);
  if (!e) throw std::runtime_error(e.error().to_string());
  return std::move(e).value();
}

LoadShedderConfig shedder_config(const ProcessorConfig& cfg) {
  LoadShedderConfig c;
  // The configured threshold moves the whole ladder (default 0.60 / 0.70 / 0.90).
  double shift = cfg.backpressure_threshold - 0.60;
  c.elevated_at = cfg.backpressure_threshold;
  c.high_at = std::min(0.70 + shift, 0.97);
  c.critical_at = std::min(0.90 + shift, 0.99);
  return c;
}

// [processor.http] onto the HTTP library's configuration; settings without a key keep their
// defaults. The loader validated every key already; validate() guards the mapping itself.
http::HttpConfig http_config(const ProcessorConfig& cfg) {
  const ProcessorHttpConfig& in = cfg.http;
  http::HttpConfig h;
  h.route.patterns = in.route_patterns;
  h.route.cardinality_limit = static_cast<size_t>(in.route_cardinality_limit);
  h.series.max_series = static_cast<size_t>(in.max_series);
  h.series.latency_buckets_s = in.latency_buckets_s;
  h.business.enabled = in.business_errors;
  for (const auto& r : in.business_rules)
    h.business.extra_rules.push_back({r.key, r.value, r.error_type});
  h.health.window_ns = static_cast<uint64_t>(in.health_window_s) * 1'000'000'000ULL;
  h.health.report_interval_ns = static_cast<uint64_t>(in.health_report_interval_s) * 1'000'000'000ULL;
  h.health.business_weight = in.health_business_weight;
  h.health.server_weight = in.health_server_error_weight;
  h.health.p99_threshold_ms = in.health_p99_threshold_ms;
  h.health.healthy_min = in.health_healthy_min;
  h.health.degraded_min = in.health_degraded_min;
  h.health.hysteresis = in.health_hysteresis;
  if (auto err = h.validate()) throw std::runtime_error("[processor.http]: " + *err);
  return h;
}

schema::Priority max_priority(schema::Priority a, schema::Priority b) {
  return static_cast<unsigned>(a) >= static_cast<unsigned>(b) ? a : b;
}

capnp::Data::Reader as_data(std::span<const uint8_t> s) { return {s.data(), s.size()}; }

}  // namespace

Pipeline::Pipeline(const ProcessorConfig& cfg, RingReader& in, RingWriter& out, StatsWriter& stats,
                   const Clock& clock)
    : cfg_(cfg),
      in_(in),
      out_(out),
      stats_(stats),
      clock_(clock),
      validator_(validation_config(cfg), clock),
      engine_(load_rules(cfg)),
      http_cfg_(http_config(cfg)),
      http_(http_cfg_, clock),
      bucket_(TokenBucketConfig{static_cast<uint64_t>(cfg.max_events_per_second),
                                static_cast<uint64_t>(cfg.burst)},
              clock),
      shedder_(shedder_config(cfg), clock),
      breaker_(CircuitBreakerConfig{static_cast<uint32_t>(cfg.breaker_failure_threshold),
                                    static_cast<uint64_t>(cfg.breaker_recovery_s) * 1'000'000'000ULL,
                                    static_cast<uint32_t>(cfg.breaker_success_threshold)},
               clock) {
  out_segment_ = kj::heapArray<capnp::word>(4096);  // 32 KiB: HTTP exchanges fit many times
  std::memset(static_cast<void*>(out_segment_.begin()), 0, out_segment_.size() * sizeof(capnp::word));
  std::optional<ResourceMonitor::OpenError> err;
  ResourceMonitorConfig rc;
  rc.max_memory_bytes = static_cast<uint64_t>(cfg.max_memory_bytes);
  monitor_.emplace(ResourceMonitor::open(rc, clock, err));
  if (err) spdlog::warn("resource monitor: {}: errno {} (memory pressure not watched)", err->doing, err->errnum);

  c_in_ = stats_.counter("in");
  c_out_ = stats_.counter("out");
  c_in_pos_ = stats_.counter("in_pos");
  c_generated_ = stats_.counter("generated");
  c_gen_seq_ = stats_.counter("gen_next_seq");
  c_gen_epoch_ = stats_.counter("gen_epoch");
  c_security_ = stats_.counter("security_violations");
  c_bypassed_ = stats_.counter("enrichment_bypassed");
  c_rate_limited_ = stats_.counter("dropped.processor.rate_limit");
  c_shed_ = stats_.counter("dropped.processor.load_shed");
  c_ring_bad_header_ = stats_.counter("ring_in_bad_header");
  c_ring_skipped_ = stats_.counter("ring_in_skipped_bytes");
  c_ring_bad_pos_ = stats_.counter("ring_in_bad_position");
  c_validated_ = stats_.counter("events_validated");
  c_invalid_ = stats_.counter("events_invalid");
  c_over_limit_ = stats_.counter("rate_limit_over_limit_critical");
  c_out_full_waits_ = stats_.counter("out_ring_full_waits");
  c_malformed_ = stats_.counter("dropped.processor.invalid_malformed");
  for (size_t r = 1; r < kValidationReasonCount; ++r)
    c_invalid_reason_[r] = stats_.counter(
        fmt::format("dropped.processor.invalid_{}", reason_name(static_cast<ValidationReason>(r))));
  if (stats_.get(c_gen_epoch_) == 0)
    stats_.set(c_gen_epoch_, (clock.wall_ns() / 1'000'000'000ULL) & 0x7fffffffULL);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  host_ = host;
  // Resume after the last snapshot: records before it were fully handled and counted.
  uint64_t snap = stats_.get(c_in_pos_);
  if (snap > in_.position() && !in_.seek(snap))
    spdlog::warn("raw ring: checkpoint position {} is outside the ring's window; resuming at {}",
                 snap, in_.position());
}

std::string Pipeline::enter_sandbox() {
  if (!cfg_.sandbox) {
    spdlog::warn("sandbox disabled by configuration ([processor] sandbox = false)");
    return {};
  }
  // spdlog opens /etc/localtime on its first formatted time: log before the filter.
  spdlog::info("entering the sandbox: rlimits, no capabilities, no_new_privs, seccomp allowlist");
  static const sandbox::SyscallPolicy policy = processor_seccomp_policy();
  sandbox::SandboxPlan plan;
  plan.seccomp = &policy;
  auto st = sandbox::apply_sandbox(plan);
  return st ? std::string() : st.describe();
}

void Pipeline::forward_raw(std::span<const uint8_t> record) {
  // The out ring is the processor's only output: when it is full, wait (the input stays
  // uncommitted, so capture sees the backpressure) rather than lose the event.
  while (!out_.try_write(record)) {
    stats_.add(c_out_full_waits_);
    out_.publish();
    out_.wait_for_space(static_cast<uint32_t>(record.size()), 50'000'000);
  }
  stats_.add(c_out_);
}

void Pipeline::forward(capnp::MessageBuilder& msg) {
  while (!write_message(out_, msg)) {
    stats_.add(c_out_full_waits_);
    out_.publish();
    out_.wait_for_space(static_cast<uint32_t>(flat_message_size(msg)), 50'000'000);
  }
  stats_.add(c_out_);
}

void Pipeline::generate(const std::function<void(schema::Event::Builder)>& fill) {
  capnp::MallocMessageBuilder msg(256);
  auto ev = msg.initRoot<schema::Event>();
  // Processor-made events live in their own id space (bit 63), monotonic like capture's.
  uint64_t seq = stats_.get(c_gen_seq_);
  stats_.set(c_gen_seq_, seq + 1);
  ev.setId((uint64_t{1} << 63) | (stats_.get(c_gen_epoch_) << 32) | (seq & 0xffffffffULL));
  ev.setMonoNs(clock_.mono_ns());
  ev.setWallNs(clock_.wall_ns());
  ev.setHost(host_);
  ev.setPid(static_cast<uint32_t>(getpid()));
  ev.setTid(static_cast<uint32_t>(getpid()));
  ev.setComm(capnp::Data::Reader(reinterpret_cast<const kj::byte*>("ringward-proc"), 13));
  fill(ev);
  stats_.add(c_generated_);
  forward(msg);
}

void Pipeline::sample_invalid(ValidationReason reason, std::span<const uint8_t> record) {
  auto& s = samples_[static_cast<size_t>(reason)];
  ++s.count;
  uint64_t now = clock_.mono_ns();
  if (s.last_sent_ns != 0 && now - s.last_sent_ns < kSampleIntervalNs) return;
  uint64_t count = s.count;
  s = Sample{0, now};
  generate([&](schema::Event::Builder ev) {
    ev.setPriority(schema::Priority::HIGH);
    auto v = ev.initKind().initValidationFailure();
    v.setReason(std::string(reason_name(reason)));
    v.setCount(count);
    v.setSample(as_data(record.subspan(0, std::min<size_t>(record.size(), 256))));
  });
}

void Pipeline::handle(std::span<const uint8_t> shared_record, uint64_t now_mono, uint64_t now_wall) {
  stats_.add(c_in_);
  // The raw ring is writable by capture: take a private copy before the first check, so what is
  // validated, inspected and forwarded are the same bytes (no time-of-check/time-of-use gap).
  std::span<const uint8_t> record = private_copy_.copy(shared_record);
  auto res = validator_.validate_at(std::as_bytes(record), decoded_, now_mono, now_wall);
  if (!res.ok() && res.reason == ValidationReason::kBadTimestamp) {
    // The batch's clock reading may predate a record written since (a slow batch): judge a
    // timestamp failure again against the clock now before calling the record invalid.
    res = validator_.validate_at(std::as_bytes(record), decoded_, clock_.mono_ns(), clock_.wall_ns());
  }
  if (!res.ok()) {
    stats_.add(c_invalid_);
    stats_.add(c_invalid_reason_[static_cast<size_t>(res.reason)]);
    sample_invalid(res.reason, record);
    engine_.forget_thread_credentials();  // it may have been a privilege change
    return;
  }
  stats_.add(c_validated_);
  schema::Event::Reader ev = decoded_.event();

  // Enrichment (detection + HTTP semantics) runs under the breaker: if it keeps failing, events
  // pass through un-enriched rather than stall the pipeline.
  findings_.clear();
  std::optional<http::Derived> derived;
  bool enriched = false;
  if (breaker_.allow_at(now_mono)) {
    try {
      engine_.inspect(ev, findings_);
      if (ev.getKind().isHttp()) derived = http_.observe(ev.getKind().getHttp(), ev.getMonoNs(), now_mono);
      breaker_.record_success();
      enriched = true;
    } catch (const std::exception& e) {
      breaker_.record_failure_at(now_mono);
      spdlog::warn("enrichment failed: {}", e.what());
    } catch (const kj::Exception& e) {
      // A field of the wrong pointer kind surfaces only when read (validation does not read
      // every field): the record is malformed, not the enrichment broken.
      stats_.add(c_malformed_);
      sample_invalid(ValidationReason::kBadField, record);
      engine_.forget_thread_credentials();
      return;
    }
  }
  if (!enriched) {
    stats_.add(c_bypassed_);
    engine_.forget_thread_credentials();
  }

  schema::Verdict verdict = ev.getVerdict();
  detect::Severity worst = detect::Severity::low;
  for (const auto& f : findings_) worst = std::max(worst, f.severity);
  if (!findings_.empty())
    verdict = worst >= detect::Severity::high ? schema::Verdict::MALICIOUS : schema::Verdict::SUSPICIOUS;
  else if (enriched)
    verdict = schema::Verdict::CLEAN;
  schema::Priority prio = max_priority(ev.getPriority(), assign_priority(ev, verdict));
  if (derived && derived->valid) prio = max_priority(prio, derived->priority);
  if (!findings_.empty()) stats_.add(c_security_);

  // Overload policy: Critical is never dropped here (counted as over the limit and passed).
  if (!bucket_.try_acquire_at(prio, now_mono)) {
    stats_.add(c_rate_limited_);
    return;
  }
  if (!shedder_.admit(prio)) {
    stats_.add(c_shed_);
    return;
  }

  bool changed = verdict != ev.getVerdict() || prio != ev.getPriority() || (derived && derived->valid);
  if (!changed) {
    forward_raw(record);
    return;
  }
  // Room for the record and what is added (verdict, rule ids, route, service, business error).
  const size_t words = record.size() / sizeof(capnp::word) + 64;
  std::optional<capnp::MallocMessageBuilder> own;
  if (words <= out_segment_.size())
    own.emplace(out_segment_.asPtr());
  else
    own.emplace(static_cast<unsigned>(words));
  capnp::MallocMessageBuilder& msg = *own;
  msg.setRoot(ev);
  auto b = msg.getRoot<schema::Event>();
  b.setVerdict(verdict);
  b.setPriority(prio);
  if (!findings_.empty()) {
    auto ids = b.initRuleIds(static_cast<unsigned>(findings_.size()));
    for (unsigned i = 0; i < findings_.size(); ++i) ids.set(i, findings_[i].rule_id);
    b.setScore(static_cast<float>(worst) + 1.0f);
  }
  if (derived && derived->valid) {
    auto h = b.getKind().getHttp();
    h.setRoute(derived->route);
    h.setService(derived->service);
    if (!derived->business_error.empty()) h.setBusinessError(derived->business_error);
    if (!derived->body_encoding.empty()) h.setBodyEncoding(derived->body_encoding);
  }
  forward(msg);
}

void Pipeline::flush() {
  out_.publish();
  const auto& f = in_.faults();
  stats_.set(c_ring_bad_header_, f.bad_header);
  stats_.set(c_ring_skipped_, f.skipped_bytes);
  stats_.set(c_ring_bad_pos_, f.bad_producer_pos);
  stats_.set(c_over_limit_, bucket_.counters().over_limit);
  stats_.set(c_in_pos_, in_.position());
  stats_.heartbeat(clock_.mono_ns());
  stats_.publish();
  in_.commit();
}

size_t Pipeline::process_batch(size_t max) {
  shedder_.observe_utilization(out_.utilization());
  // One clock reading per batch (a batch takes well under a millisecond): timestamps are judged,
  // and the breaker and the token bucket advance, against it. Reading the clock per event cost
  // ~5 % of the processor's CPU under load.
  const uint64_t batch_mono = clock_.mono_ns();
  const uint64_t batch_wall = clock_.wall_ns();
  size_t n = 0;
  while (n < max) {
    auto rec = in_.next();
    if (!rec) break;
    try {
      handle(*rec, batch_mono, batch_wall);
    } catch (const kj::Exception&) {
      // Malformed deep inside (a field of the wrong pointer kind, read only after validation):
      // counted as invalid; forwarding is handle()'s last step, so nothing went out.
      stats_.add(c_malformed_);
    }
    ++n;
  }
  uint64_t now = clock_.mono_ns();
  if (now - last_tick_ns_ >= kTickNs) {
    last_tick_ns_ = now;
    tick();
  }
  flush();
  return n;
}

void Pipeline::tick() {
  if (monitor_ && monitor_->is_open()) {
    auto s = monitor_->sample();
    shedder_.set_floor(monitor_->shed_floor(), clock_.mono_ns());
    (void)s;
  }
  for (const auto& r : http_.due_reports()) {
    generate([&](schema::Event::Builder ev) {
      ev.setPriority(r.state == http::HealthState::kHealthy ? schema::Priority::LOW
                                                            : schema::Priority::HIGH);
      ev.setScore(static_cast<float>(r.score));
      auto h = ev.initKind().initEndpointHealth();
      h.setService(r.service);
      h.setRoute(r.route);
      h.setScore(static_cast<float>(r.score));
      h.setState(http::health_state_name(r.state));
      h.setRequests(r.requests);
      h.setErrorRate5xx(r.error_rate_5xx);
      h.setBusinessErrorRate(r.business_error_rate);
      h.setP99Ms(r.p99_ms);
    });
  }
  publish_metrics();
}

void Pipeline::publish_metrics() {
  std::string text;
  http_.render_prometheus(text);
  const auto& tb = bucket_.counters();
  const auto& sh = shedder_.counters();
  const auto& br = breaker_.counters();
  double mem_pct = monitor_ ? monitor_->last().memory_usage_percent : 0.0;
  fmt::format_to(std::back_inserter(text),
                 "# HELP ringward_processor_rate_limit_utilization Share of the token bucket in use.\n"
                 "# TYPE ringward_processor_rate_limit_utilization gauge\n"
                 "ringward_processor_rate_limit_utilization {:.4f}\n"
                 "# HELP ringward_processor_backpressure_level Load level: 0 normal, 1 elevated, 2 high, 3 critical.\n"
                 "# TYPE ringward_processor_backpressure_level gauge\n"
                 "ringward_processor_backpressure_level {}\n"
                 "# HELP ringward_processor_backpressure_shed_rate Share of non-critical events shed.\n"
                 "# TYPE ringward_processor_backpressure_shed_rate gauge\n"
                 "ringward_processor_backpressure_shed_rate {:.4f}\n"
                 "# HELP ringward_processor_memory_usage_percent RSS as a percentage of max_memory_bytes.\n"
                 "# TYPE ringward_processor_memory_usage_percent gauge\n"
                 "ringward_processor_memory_usage_percent {:.2f}\n"
                 "# HELP ringward_processor_circuit_breaker_state 0 closed, 1 open, 2 half-open.\n"
                 "# TYPE ringward_processor_circuit_breaker_state gauge\n"
                 "ringward_processor_circuit_breaker_state {}\n",
                 bucket_.utilization(), static_cast<int>(shedder_.level()), shedder_.shed_rate(),
                 mem_pct, static_cast<int>(breaker_.state()));
  stats_.set_metrics_text(text);
  stats_.set_status_json(fmt::format(
      R"({{"rate_limit_allowed":{},"rate_limit_rejected":{},"backpressure_accepted":{},)"
      R"("backpressure_shed":{},"backpressure_level":"{}","circuit_breaker":"{}",)"
      R"("breaker_transitions":{},"memory_usage_percent":{:.2f},"endpoints":{}}})",
      tb.allowed, tb.rejected, sh.accepted, sh.shed, level_name(shedder_.level()),
      state_name(breaker_.state()), br.closed_to_open + br.open_to_half_open + br.half_open_to_closed + br.half_open_to_open,
      mem_pct, http_.health_json()));
}

void Pipeline::run(const std::function<bool()>& should_stop) {
  while (true) {
    size_t n = process_batch(256);
    if (n == 0) {
      if (should_stop()) break;
      in_.wait(100'000'000);
    }
  }
  spdlog::info("stopped: {} events in, {} out", stats_.get(c_in_), stats_.get(c_out_));
}

}  // namespace ringward::processor
