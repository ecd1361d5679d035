// Health scoring. See health.h.
#include "processor/http/health.h"

#include <algorithm>
#include <tuple>

namespace ringward::http {

const char* health_state_name(HealthState s) {
  switch (s) {
    case HealthState::kHealthy: return "healthy";
    case HealthState::kDegraded: return "degraded";
    case HealthState::kUnhealthy: return "unhealthy";
  }
  return "unknown";
}

double health_score(const HealthConfig& c, double business_error_rate, double error_rate_5xx,
                    double p99_ms) {
  double score = 100.0;
  score -= std::min(business_error_rate * c.business_scale * c.business_weight, c.business_cap);
  score -= std::min(error_rate_5xx * c.server_scale * c.server_weight, c.server_cap);
  if (p99_ms > c.p99_threshold_ms) {
    score -= std::min((p99_ms - c.p99_threshold_ms) / c.p99_step_ms * c.p99_points, c.p99_cap);
  }
  return std::clamp(score, 0.0, 100.0);
}

HealthState next_health_state(const HealthConfig& c, std::optional<HealthState> prev, double score) {
  const HealthState plain = score >= c.healthy_min    ? HealthState::kHealthy
                            : score >= c.degraded_min ? HealthState::kDegraded
                                                      : HealthState::kUnhealthy;
  if (!prev || plain >= *prev) return plain;  // getting worse (or equal) is immediate
  // Getting better must clear the better state's threshold by the hysteresis margin; it may
  // recover one or two levels at once when the score clears both.
  if (score >= c.healthy_min + c.hysteresis) return HealthState::kHealthy;
  if (score >= c.degraded_min + c.hysteresis) return std::min(*prev, HealthState::kDegraded);
  return *prev;
}

void HealthTracker::observe(std::string_view service, std::string_view route, uint64_t t_ns,
                            bool server_error, bool business_error, uint64_t latency_ns) {
  std::string key;
  key.reserve(service.size() + route.size() + 1);
  key.append(service).push_back('\x1f');
  key.append(route);
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) {
    if (endpoints_.size() >= config_.max_endpoints) {
      ++overflowed_;
      key.assign(kOverflowService).push_back('\x1f');
      key.append(kOverflowRoute);
      service = kOverflowService;
      route = kOverflowRoute;
      it = endpoints_.find(key);
    }
    if (it == endpoints_.end()) {
      it = endpoints_
               .emplace(key, Endpoint{std::string(service), std::string(route),
                                      SlidingWindow(config_.window_ns, config_.window_slots),
                                      std::nullopt})
               .first;
    }
  }
  it->second.window.add(t_ns, server_error, business_error, latency_ns / 1000);
}

HealthReport HealthTracker::report_of(const Endpoint& e, const WindowCounts& w) const {
  HealthReport r;
  r.service = e.service;
  r.route = e.route;
  r.requests = w.requests;
  if (w.requests > 0) {
    const double n = static_cast<double>(w.requests);
    r.error_rate_5xx = static_cast<double>(w.server_errors) / n;
    r.business_error_rate = static_cast<double>(w.business_errors) / n;
    r.p99_ms = w.latency_us.quantile(0.99) / 1000.0;
  }
  r.score = health_score(config_, r.business_error_rate, r.error_rate_5xx, r.p99_ms);
  r.state = next_health_state(config_, e.state, r.score);
  return r;
}

std::vector<HealthReport> HealthTracker::evaluate(uint64_t now_ns) {
  std::vector<HealthReport> out;
  for (auto it = endpoints_.begin(); it != endpoints_.end();) {
    const WindowCounts w = it->second.window.aggregate(now_ns);
    if (w.requests == 0) {
      it = endpoints_.erase(it);
      continue;
    }
    HealthReport r = report_of(it->second, w);
    it->second.state = r.state;
    out.push_back(std::move(r));
    ++it;
  }
  std::sort(out.begin(), out.end(), [](const HealthReport& a, const HealthReport& b) {
    return std::tie(a.service, a.route) < std::tie(b.service, b.route);
  });
  return out;
}

std::vector<HealthReport> HealthTracker::snapshot(uint64_t now_ns) const {
  std::vector<HealthReport> out;
  for (const auto& [key, e] : endpoints_) {
    const WindowCounts w = e.window.aggregate(now_ns);
    if (w.requests == 0) continue;
    HealthReport r = report_of(e, w);
    if (e.state) r.state = *e.state;  // the state only moves at evaluate()
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const HealthReport& a, const HealthReport& b) {
    return std::tie(a.service, a.route) < std::tie(b.service, b.route);
  });
  return out;
}

}  // namespace ringward::http
