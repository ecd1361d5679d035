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

bool CredTracker::observe(std::uint32_t tid, std::uint64_t start_ns, std::uint32_t uid,
                          bool reported_change) {
  if (start_ns == 0) return false;
  Slot& s = slots_[index(tid, start_ns)];
  const bool known = s.start_ns == start_ns && s.tid == tid;
  const bool unexplained_root = known && !reported_change && s.uid != 0 && uid == 0;
  s.start_ns = start_ns;
  s.tid = tid;
  s.uid = uid;  // flagged once per transition
  return unexplained_root;
}

void CredTracker::forget_all() { std::fill(slots_.begin(), slots_.end(), Slot{}); }

}  // namespace ringward::detect
