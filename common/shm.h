// Shared-memory segments (Boost.Interprocess over /dev/shm) with explicit owner and mode, and the
// futex helpers the rings use for wake-ups. Trust: the supervisor creates segments; children map
// them. Every mapping is owned by one ShmSegment object.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

namespace ringward {

class ShmSegment {
 public:
  // Creates (replacing a stale one) a zero-filled segment of `size` bytes with `mode`, owned by
  // uid/gid (-1 keeps the creator's). Throws std::runtime_error with context on failure.
  static ShmSegment create(const std::string& name, size_t size, mode_t mode, uid_t uid = -1,
                           gid_t gid = -1);
  // Maps an existing segment read-write (or read-only).
  static ShmSegment open(const std::string& name, bool writable = true);
  static void remove(const std::string& name);

  ShmSegment(ShmSegment&&) noexcept = default;
  ShmSegment& operator=(ShmSegment&&) noexcept = default;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  void* data() const { return region_->get_address(); }
  size_t size() const { return region_->get_size(); }
  const std::string& name() const { return name_; }

 private:
  ShmSegment(std::string name, std::unique_ptr<boost::interprocess::mapped_region> region)
      : name_(std::move(name)), region_(std::move(region)) {}
  std::string name_;
  std::unique_ptr<boost::interprocess::mapped_region> region_;
};

// Futex wait/wake on a 32-bit word in shared memory (not FUTEX_PRIVATE: peers are processes).
// wait returns when *word != expected, on a wake, or after timeout_ns.
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns);
void futex_wake_all(std::atomic<uint32_t>* word);

}  // namespace ringward
