// Health evaluation and counter rate window (see health.h). Trust: supervisor.
#include "supervisor/health.h"

#include <fmt/format.h>

namespace ringward::supervisor {

void RateWindow::add(uint64_t now_ns, std::map<std::string, uint64_t> totals) {
  samples_.push_back({now_ns, std::move(totals)});
  while (samples_.size() > 2 && now_ns - samples_.front().t_ns > keep_ns_) samples_.pop_front();
  while (samples_.size() > 4096) samples_.pop_front();
}

const RateWindow::Sample* RateWindow::oldest_within(uint64_t window_ns) const {
  if (samples_.size() < 2) return nullptr;
  uint64_t newest = samples_.back().t_ns;
  const Sample* pick = nullptr;
  for (auto it = samples_.rbegin() + 1; it != samples_.rend(); ++it) {
    pick = &*it;
    if (newest - it->t_ns >= window_ns) break;
  }
  return pick;
}

uint64_t RateWindow::increase(const std::string& key, uint64_t window_ns) const {
  const Sample* old = oldest_within(window_ns);
  if (!old) return 0;
  auto n = samples_.back().totals.find(key);
  if (n == samples_.back().totals.end()) return 0;
  auto o = old->totals.find(key);
  uint64_t before = o == old->totals.end() ? 0 : o->second;
  return n->second >= before ? n->second - before : n->second;
}

double RateWindow::rate(const std::string& key, uint64_t window_ns) const {
  const Sample* old = oldest_within(window_ns);
  if (!old) return 0;
  double dt = double(samples_.back().t_ns - old->t_ns) / 1e9;
  return dt > 0 ? double(increase(key, window_ns)) / dt : 0;
}

std::vector<std::string> RateWindow::keys_with_prefix(const std::string& prefix) const {
  std::vector<std::string> out;
  if (samples_.empty()) return out;
  for (const auto& [k, v] : samples_.back().totals)
    if (k.rfind(prefix, 0) == 0) out.push_back(k);
  return out;
}

const char* health_name(Health h) {
  switch (h) {
    case Health::healthy: return "Healthy";
    case Health::degraded: return "Degraded";
    case Health::unhealthy: return "Unhealthy";
    case Health::unknown: return "Unknown";
  }
  return "Unknown";
}

HealthReport evaluate_health(const HealthInputs& in, const HealthThresholds& t) {
  HealthReport r;
  bool unhealthy = false, degraded = false, not_started = in.children.empty();
  for (const auto& c : in.children) {
    if (c.state == "failed") {
      unhealthy = true;
      r.reasons.push_back(fmt::format("{} permanently failed ({})", c.name,
                                      c.last_exit.empty() ? "no exit recorded" : c.last_exit));
    } else if (c.state == "stopped") {
      not_started = true;
      r.reasons.push_back(c.name + " is not started");
    } else if (c.state != "running") {
      degraded = true;
      r.reasons.push_back(fmt::format("{} is {}{}", c.name, c.state,
                                      c.last_exit.empty() ? "" : " after: " + c.last_exit));
    } else if (c.heartbeat_age_s > t.stale_heartbeat_s) {
      degraded = true;
      r.reasons.push_back(fmt::format("{} has not published statistics for {:.0f} s (hung?)", c.name,
                                      c.heartbeat_age_s));
    }
  }
  uint64_t drops = 0;
  for (const auto& [k, v] : in.drops_in_window) drops += v;
  double rate = t.window_s > 0 ? double(drops) / t.window_s : 0;
  if (drops > 0 && rate > t.drops_per_s) {
    degraded = true;
    std::string by;
    for (const auto& [k, v] : in.drops_in_window)
      if (v) by += fmt::format("{}{} {}", by.empty() ? "" : ", ", k, v);
    r.reasons.push_back(fmt::format("{} events dropped in the last {:.0f} s ({:.1f}/s: {})", drops,
                                    t.window_s, rate, by));
  }
  if (in.kernel_drop_fraction > 0.01) {
    degraded = true;
    r.reasons.push_back(fmt::format("the kernel dropped {:.1f}% of events (ring buffer full)",
                                    100 * in.kernel_drop_fraction));
  }
  if (in.shipper_status && in.shipper_status->is_object()) {
    const JsonValue& s = *in.shipper_status;
    size_t sinks = 0, down = 0;
    for (const auto& k : s["sinks"].items) {
      ++sinks;
      std::string state = k["state"].str("normal");
      std::string breaker = k["breaker"].str("closed");
      if (state == "normal" && breaker == "closed") continue;
      degraded = true;
      if (state == "unavailable") ++down;
      std::string err = k["last_error"].str();
      r.reasons.push_back(fmt::format("sink {} is {} (circuit {}){}", k["name"].str("?"), state, breaker,
                                      err.empty() ? "" : ": " + err));
    }
    if (sinks > 0 && down == sinks) {
      unhealthy = true;
      r.reasons.push_back("every sink is unavailable: events accumulate in the disk buffer");
    }
    const JsonValue& b = s["buffer"];
    if (b["full"].flag()) {
      degraded = true;
      r.reasons.push_back("disk buffer full: dropping the oldest non-critical events");
    } else if (b["use"].num() > 0.8) {
      degraded = true;
      r.reasons.push_back(fmt::format("disk buffer {:.0f}% full", 100 * b["use"].num()));
    }
  }
  if (in.processor_status && in.processor_status->is_object()) {
    const JsonValue& p = *in.processor_status;
    std::string level = p["backpressure_level"].str("normal");
    if (level == "high" || level == "critical") {
      degraded = true;
      r.reasons.push_back("processor backpressure level " + level + ": shedding low-priority events");
    }
    std::string breaker = p["circuit_breaker"].str("closed");
    if (breaker != "closed") {
      degraded = true;
      r.reasons.push_back("processor circuit breaker " + breaker + ": enrichment bypassed");
    }
  }
  if (unhealthy) r.state = Health::unhealthy;
  else if (not_started) r.state = Health::unknown;
  else if (degraded) r.state = Health::degraded;
  else r.state = Health::healthy;
  return r;
}

}  // namespace ringward::supervisor
