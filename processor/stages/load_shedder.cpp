// Load shedding by priority with hysteresis. No randomness: which events are shed depends only on
// the sequence of priorities and utilisation readings, so tests and incidents replay exactly.
// Trust: sandboxed processor.
#include "processor/stages/load_shedder.h"

#include <algorithm>

namespace ringward::processor {

std::string_view level_name(LoadLevel level) {
  switch (level) {
    case LoadLevel::kNormal:
      return "normal";
    case LoadLevel::kElevated:
      return "elevated";
    case LoadLevel::kHigh:
      return "high";
    case LoadLevel::kCritical:
      return "critical";
  }
  return "unknown";
}

LoadShedder::LoadShedder(LoadShedderConfig config, const Clock& clock)
    : config_(config), clock_(clock), last_change_ns_(clock.mono_ns()) {
  for (auto& cap : config_.shed_cap_ppm) cap = std::min<uint32_t>(cap, kOne);
  config_.mix_window = std::max<uint32_t>(config_.mix_window, 1);
}

LoadLevel LoadShedder::level_for(double u) const {
  if (u >= config_.critical_at) return LoadLevel::kCritical;
  if (u >= config_.high_at) return LoadLevel::kHigh;
  if (u >= config_.elevated_at) return LoadLevel::kElevated;
  return LoadLevel::kNormal;
}

LoadLevel LoadShedder::observe_utilization_at(double u, uint64_t now_ns) {
  if (!(u >= 0.0)) u = 0.0;  // NaN from a corrupt reading counts as empty, not as full
  const LoadLevel raw = level_for(u);
  if (raw > ring_level_) {
    ring_level_ = raw;  // up: at once, overload does not wait
  } else if (raw < ring_level_) {
    // Down: only to the level the utilisation would give with the hysteresis added, and only
    // after the cooldown, so a ring hovering at a threshold does not flap.
    const LoadLevel with_margin = level_for(u + config_.hysteresis);
    const bool cooled = now_ns >= last_change_ns_ && now_ns - last_change_ns_ >= config_.cooldown_ns;
    if (with_margin < ring_level_ && cooled) {
      ring_level_ = with_margin;
    }
  }
  set_effective(now_ns);
  return effective_;
}

void LoadShedder::set_floor(LoadLevel floor, uint64_t now_ns) {
  floor_ = floor;
  set_effective(now_ns);
}

void LoadShedder::set_effective(uint64_t now_ns) {
  const LoadLevel next = std::max(ring_level_, floor_);
  if (next == effective_) return;
  effective_ = next;
  last_change_ns_ = now_ns;
  ++counters_.transitions;
  ++counters_.entered[static_cast<size_t>(next)];
  // The budget belongs to one level's cap; credits restart so a new level starts clean, and the
  // per-priority rates are re-spread for the new cap.
  budget_ = 0;
  credit_ = {};
  recompute_rates(have_mix_ ? last_mix_ : window_counts_);
}

// Spreads the level's shed target over priorities, lowest first: shed all of Low before any of
// Normal, all of Normal before any of High. A priority absent from the mix gets the rate it would
// have if it appeared while budget remains (full for the lowest ones).
void LoadShedder::recompute_rates(const std::array<uint64_t, 3>& mix) {
  const uint64_t total = mix[0] + mix[1] + mix[2];
  const uint64_t cap = config_.shed_cap_ppm[static_cast<size_t>(effective_)];
  if (total == 0) {
    // No mix seen yet: the budget alone decides until the first window completes.
    rate_ppm_.fill(cap > 0 ? kOne : 0);
    return;
  }
  uint64_t remaining = cap * total;  // ppm × events
  for (size_t p = 0; p < 3; ++p) {
    if (mix[p] == 0) {
      rate_ppm_[p] = remaining > 0 ? kOne : 0;
      continue;
    }
    const uint64_t take = std::min(remaining, mix[p] * kOne);
    rate_ppm_[p] = take / mix[p];
    remaining -= take;
  }
}

bool LoadShedder::admit(schema::Priority priority) {
  if (priority == schema::Priority::CRITICAL) {
    ++counters_.accepted;
    return true;
  }
  const auto p = std::min<size_t>(static_cast<size_t>(priority), 2);
  ++window_counts_[p];
  if (++window_total_ >= config_.mix_window) {
    last_mix_ = window_counts_;
    have_mix_ = true;
    recompute_rates(last_mix_);
    recent_shed_rate_ = static_cast<double>(window_shed_) / static_cast<double>(window_total_);
    window_counts_ = {};
    window_total_ = 0;
    window_shed_ = 0;
  }
  const uint64_t cap = config_.shed_cap_ppm[static_cast<size_t>(effective_)];
  if (cap == 0) {
    ++counters_.accepted;
    return true;
  }
  // Budget: at most cap × (non-critical arrivals at this level) shed, checked per event. The clamp
  // only ever lowers shedding, so the bound holds; it stops a quiet stretch (nothing to shed)
  // from being spent as a burst later.
  budget_ = std::min(budget_ + cap, 4 * kOne);
  credit_[p] = std::min(credit_[p] + rate_ppm_[p], 2 * kOne);
  if (credit_[p] >= kOne && budget_ >= kOne) {
    credit_[p] -= kOne;
    budget_ -= kOne;
    ++counters_.shed;
    ++counters_.shed_by_priority[p];
    ++window_shed_;
    return false;
  }
  ++counters_.accepted;
  return true;
}

double LoadShedder::shed_rate() const {
  const uint64_t total = counters_.accepted + counters_.shed;
  return total == 0 ? 0.0 : static_cast<double>(counters_.shed) / static_cast<double>(total);
}

}  // namespace ringward::processor
