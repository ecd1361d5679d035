#include "processor/detect/cred_tracker.h"

#include <algorithm>
#include <bit>

namespace ringward::detect {

CredTracker::CredTracker(std::size_t slots)
    : slots_(std::bit_ceil(std::max<std::size_t>(slots, 2))) {}

std::size_t CredTracker::index(std::uint32_t tid, std::uint64_t start_ns) const {
  std::uint64_t h = (static_cast<std::uint64_t>(tid) * 0x9e3779b97f4a7c15ULL) ^ (start_ns >> 10);
  h ^= h >> 29;
  return static_cast<std::size_t>(h) & (slots_.size() - 1);
}

bool CredTracker::observe(const CredSighting& s) {
  if (s.start_ns == 0) return false;
  Slot& slot = slots_[index(s.tid, s.start_ns)];
  const bool known = slot.generation == generation_ && slot.start_ns == s.start_ns && slot.tid == s.tid;
  bool became_root = false;
  if (known && !s.reported_change) {
    const bool was_unprivileged = slot.uid != 0 && slot.euid != 0;
    const bool root_now = s.uid == 0 || (!s.exec && s.euid == 0);
    became_root = was_unprivileged && root_now;
  }
  slot = Slot{s.start_ns, s.tid, s.uid, s.euid, generation_};  // flagged once per transition
  return became_root;
}

void CredTracker::forget_all() {
  if (++generation_ == 0) {  // wrapped: no slot may still carry a reused generation
    std::fill(slots_.begin(), slots_.end(), Slot{});
    generation_ = 1;
  }
}

}  // namespace ringward::detect
