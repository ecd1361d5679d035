// Pipeline health: Healthy / Degraded / Unhealthy / Unknown with reasons, as a pure function of
// what the supervisor observes (child states, counter rates over a window, the status JSON the
// shipper and processor publish). Plus the sliding window of counter samples the rates come from.
// Trust: supervisor; the status JSON comes from the children and is parsed with limits.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace ringward::supervisor {

using json::JsonLimits;
using json::JsonValue;
// Children's status JSON is at most a stats page's text: parse it with limits to match.
inline std::optional<JsonValue> parse_status_json(std::string_view text, std::string* error = nullptr,
                                           JsonLimits limits = {256 << 10, 16, 20000}) {
  return json::parse_json(text, error, limits);
}

// Counter totals sampled about once a second; rates are differences over a window. Counters that
// go backwards (a stats page re-formatted) restart the window for that key instead of going
// negative.
class RateWindow {
 public:
  explicit RateWindow(uint64_t keep_ns) : keep_ns_(keep_ns) {}
  void add(uint64_t now_ns, std::map<std::string, uint64_t> totals);
  // Events per second of `key` over the last `window_ns` (0 with fewer than two samples).
  double rate(const std::string& key, uint64_t window_ns) const;
  // Increase of `key` over the last `window_ns`.
  uint64_t increase(const std::string& key, uint64_t window_ns) const;
  // Keys with the given prefix in the newest sample.
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;
  void set_keep(uint64_t keep_ns) { keep_ns_ = keep_ns; }

 private:
  struct Sample {
    uint64_t t_ns;
    std::map<std::string, uint64_t> totals;
  };
  const Sample* oldest_within(uint64_t window_ns) const;
  uint64_t keep_ns_;
  std::deque<Sample> samples_;
};

enum class Health { healthy, degraded, unhealthy, unknown };
const char* health_name(Health h);  // "Healthy" ...

struct ChildObservation {
  std::string name;
  std::string state;  // ChildState name
  std::string last_exit;
  double heartbeat_age_s = -1;  // < 0: no heartbeat yet
};

struct HealthThresholds {
  double window_s = 60;          // [supervisor] health_window_s
  double drops_per_s = 0;        // [supervisor] degraded_drops_per_second (Degraded above it)
  double stale_heartbeat_s = 15;  // [supervisor] stale_heartbeat_s
};

struct HealthInputs {
  std::vector<ChildObservation> children;
  std::map<std::string, uint64_t> drops_in_window;  // "<stage>.<reason>" -> events
  double kernel_drop_fraction = 0;                  // kernel drops / captured over the window
  const JsonValue* shipper_status = nullptr;        // the shipper's status JSON when it has one
  const JsonValue* processor_status = nullptr;
};

struct HealthReport {
  Health state = Health::unknown;
  std::vector<std::string> reasons;
};

HealthReport evaluate_health(const HealthInputs& in, const HealthThresholds& t);

}  // namespace ringward::supervisor
