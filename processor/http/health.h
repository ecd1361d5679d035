// Per-endpoint health scores over a sliding window, with a hysteresis state machine so a score
// hovering at a threshold does not flap. The score formula and its weights are in HealthConfig and
// docs/http-semantics.md. Time comes from the caller (an injected Clock upstream).
// Trust: endpoint keys are already-normalised labels; the endpoint table is bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processor/http/histogram.h"
#include "processor/http/http_config.h"

namespace ringward::http {

enum class HealthState : uint8_t { kHealthy, kDegraded, kUnhealthy };
const char* health_state_name(HealthState s);

struct HealthReport {
  std::string service;
  std::string route;
  double score = 100.0;
  HealthState state = HealthState::kHealthy;
  uint64_t requests = 0;
  double error_rate_5xx = 0.0;       // fraction of requests in the window, 0..1
  double business_error_rate = 0.0;  // fraction, 0..1
  double p99_ms = 0.0;
};

// The score for the given window rates (fractions) and p99, clamped to [0, 100].
double health_score(const HealthConfig& c, double business_error_rate, double error_rate_5xx,
                    double p99_ms);

// The next state from `prev` (nullopt: first evaluation, no hysteresis) for `score`.
HealthState next_health_state(const HealthConfig& c, std::optional<HealthState> prev, double score);

class HealthTracker {
 public:
  static constexpr std::string_view kOverflowService = "__overflow__";
  static constexpr std::string_view kOverflowRoute = "/__overflow__";

  explicit HealthTracker(const HealthConfig& config) : config_(config) {}

  void observe(std::string_view service, std::string_view route, uint64_t t_ns, bool server_error,
               bool business_error, uint64_t latency_ns);

  // Scores every endpoint with traffic in the window at `now_ns`, advances the hysteresis state,
  // and forgets endpoints with no traffic left in the window.
  std::vector<HealthReport> evaluate(uint64_t now_ns);
  // The same figures without changing any state (for exposition between evaluations).
  std::vector<HealthReport> snapshot(uint64_t now_ns) const;

  size_t endpoints() const { return endpoints_.size(); }
  uint64_t overflowed() const { return overflowed_; }

 private:
  struct Endpoint {
    std::string service;
    std::string route;
    SlidingWindow window;
    std::optional<HealthState> state;
  };
  HealthReport report_of(const Endpoint& e, const WindowCounts& w) const;

  HealthConfig config_;
  std::unordered_map<std::string, Endpoint> endpoints_;
  uint64_t overflowed_ = 0;
};

}  // namespace ringward::http
