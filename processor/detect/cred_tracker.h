// Per-thread memory of the uids each thread was last seen with, so the processor notices a thread
// that became root although the kernel reported no privilege change for it: the 32-bit set*id32
// calls (no 64-bit syscall tracepoint sees them) or a kernel exploit overwriting its credentials,
// revealed by the next exec, open or connect of that thread.
//
// A thread counts as unprivileged while both its real and effective uid are non-root; it "became
// root" when either is 0 at a later event with no reported change in between. An exec may change
// the effective uid on its own (a set-uid binary; the kernel reports that as its own privilege
// change, which may reach the stream after the exec event), so an exec is judged by the real uid
// only, which exec never changes.
//
// Identity is (tid, thread start time): tids are reused, a reused tid starts later. (A thread
// that execs from a non-leader takes over the leader's tid and start time: its exec is compared
// with the leader's uids.) The table is direct-mapped and bounded; a colliding thread overwrites
// the slot. Forgetting a thread can only miss a finding, never invent one, so every doubt (a lost
// privilege change, capture restarted, an event not inspected) forgets. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringward::detect {

struct CredSighting {
  std::uint32_t tid = 0;
  std::uint64_t start_ns = 0;  // 0: identity unknown, ignored
  std::uint32_t uid = 0;       // real
  std::uint32_t euid = 0;      // effective
  bool reported_change = false;  // the event is the kernel's report of a credential change
  bool exec = false;             // the event is an exec
};

class CredTracker {
 public:
  // `slots` is rounded up to a power of two (at least 2).
  explicit CredTracker(std::size_t slots = 16384);

  // Returns true when the thread was last seen unprivileged and is root now with no change
  // reported in between.
  bool observe(const CredSighting& s);

  // O(1): the table's generation moves on (called per event while the processor's breaker is
  // open, and per loss report under a storm of them).
  void forget_all();

  std::size_t slots() const { return slots_.size(); }

 private:
  struct Slot {
    std::uint64_t start_ns = 0;  // 0: empty
    std::uint32_t tid = 0;
    std::uint32_t uid = 0;
    std::uint32_t euid = 0;
    std::uint32_t generation = 0;  // valid only while equal to generation_
  };
  std::size_t index(std::uint32_t tid, std::uint64_t start_ns) const;

  std::vector<Slot> slots_;
  std::uint32_t generation_ = 1;
};

}  // namespace ringward::detect
