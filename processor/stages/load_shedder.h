// Stage 5, backpressure: sheds non-critical events by the output ring's utilisation.
//   Normal < 60 % <= Elevated < 70 % <= High < 90 % <= Critical   (thresholds configurable)
// At High up to 70 %, at Critical up to 80 % of non-critical events are shed, lowest priority
// first (Low, then Normal, then High), never Critical. Deterministic: per-priority credit
// counters driven by the priority mix of the last window, plus a budget that keeps the shed
// fraction at or under the level's cap at every moment. Going up a level is immediate; going down
// needs utilisation below the threshold minus a hysteresis and a cooldown at the current level.
// Trust: sandboxed processor; one instance per processing thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/clock.h"
#include "event.capnp.h"

namespace ringward::processor {

enum class LoadLevel : uint8_t { kNormal = 0, kElevated = 1, kHigh = 2, kCritical = 3 };
inline constexpr size_t kLoadLevelCount = 4;
std::string_view level_name(LoadLevel level);

struct LoadShedderConfig {
  double elevated_at = 0.60;
  double high_at = 0.70;
  double critical_at = 0.90;
  double hysteresis = 0.05;              // drop a level only below its threshold minus this
  uint64_t cooldown_ns = 1'000'000'000;  // and only after this long at the current level
  // Largest shed fraction of non-critical events per level, in parts per million.
  std::array<uint32_t, kLoadLevelCount> shed_cap_ppm = {0, 0, 700'000, 800'000};
  uint32_t mix_window = 256;  // non-critical arrivals per re-estimate of the priority mix
};

struct LoadShedderCounters {
  uint64_t accepted = 0;                  // backpressure_accepted (critical included)
  std::array<uint64_t, 3> shed_by_priority{};  // Low, Normal, High (Critical is never shed)
  uint64_t shed = 0;                      // backpressure_shed
  uint64_t transitions = 0;
  std::array<uint64_t, kLoadLevelCount> entered{};  // transitions into each level
};

class LoadShedder {
 public:
  LoadShedder(LoadShedderConfig config, const Clock& clock);

  // Feeds the output ring's utilisation (0..1); returns the level now in force.
  LoadLevel observe_utilization(double utilization) {
    return observe_utilization_at(utilization, clock_.mono_ns());
  }
  LoadLevel observe_utilization_at(double utilization, uint64_t now_ns);
  // Resource pressure: shed at least as hard as `floor` whatever the ring says.
  void set_floor(LoadLevel floor, uint64_t now_ns);

  // True: keep the event. False: shed it (counted).
  bool admit(schema::Priority priority);

  LoadLevel level() const { return effective_; }
  const LoadShedderCounters& counters() const { return counters_; }
  // backpressure_shed_rate: shed / (accepted + shed) since start.
  double shed_rate() const;
  // Shed fraction of the last complete mix window (what operators want on a dashboard).
  double recent_shed_rate() const { return recent_shed_rate_; }

 private:
  static constexpr uint64_t kOne = 1'000'000;  // ppm
  LoadLevel level_for(double utilization) const;
  void set_effective(uint64_t now_ns);
  void recompute_rates(const std::array<uint64_t, 3>& mix);

  LoadShedderConfig config_;
  const Clock& clock_;
  LoadLevel ring_level_ = LoadLevel::kNormal;
  LoadLevel floor_ = LoadLevel::kNormal;
  LoadLevel effective_ = LoadLevel::kNormal;
  uint64_t last_change_ns_;
  // Shedding state (ppm units).
  std::array<uint64_t, 3> rate_ppm_{kOne, 0, 0};  // desired shed rate per priority
  std::array<uint64_t, 3> credit_{};
  uint64_t budget_ = 0;
  bool have_mix_ = false;
  std::array<uint64_t, 3> last_mix_{};  // priority counts of the last complete window
  std::array<uint64_t, 3> window_counts_{};
  uint64_t window_total_ = 0;
  uint64_t window_shed_ = 0;
  double recent_shed_rate_ = 0.0;
  LoadShedderCounters counters_;
};

}  // namespace ringward::processor
