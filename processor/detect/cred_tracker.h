// Per-thread memory of the real uid each thread was last seen with, so the processor notices a
// thread that became root although the kernel reported no privilege change for it: the 32-bit
// set*id32 calls (no 64-bit syscall tracepoint sees them) or a kernel exploit overwriting its
// credentials, revealed by the next exec, open or connect of that thread.
//
// Identity is (tid, thread start time): tids are reused, a reused tid starts later. The table is
// direct-mapped and bounded; a colliding thread overwrites the slot. Forgetting a thread can only
// miss a finding, never invent one, so every doubt (events lost, capture restarted) forgets.
// Not thread-safe (owned by one Engine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringward::detect {

class CredTracker {
 public:
  // `slots` is rounded up to a power of two (at least 2).
  explicit CredTracker(std::size_t slots = 16384);

  // One event of thread (tid, start_ns) running with real uid `uid`. `reported_change`: the event
  // is the kernel's report of a credential change (a privilegeChange event), which explains any
  // difference. Returns true when the thread was last seen as a non-root uid and is now uid 0
  // with no change reported in between. start_ns == 0 (identity unknown) is ignored.
  bool observe(std::uint32_t tid, std::uint64_t start_ns, std::uint32_t uid, bool reported_change);

  // Events were lost or not observed: what was seen no longer tells what changed in between.
  void forget_all();

  std::size_t slots() const { return slots_.size(); }

 private:
  struct Slot {
    std::uint64_t start_ns = 0;  // 0: empty
    std::uint32_t tid = 0;
    std::uint32_t uid = 0;
  };
  std::size_t index(std::uint32_t tid, std::uint64_t start_ns) const;

  std::vector<Slot> slots_;
};

}  // namespace ringward::detect
