#include "common/shm.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace ringward {

namespace bi = boost::interprocess;

ShmSegment ShmSegment::create(const std::string& name, size_t size, mode_t mode, uid_t uid,
                              gid_t gid) {
  bi::shared_memory_object::remove(name.c_str());
  bi::permissions perms(mode);
  try {
    bi::shared_memory_object obj(bi::create_only, name.c_str(), bi::read_write, perms);
    obj.truncate(static_cast<bi::offset_t>(size));
    // Boost applies the mode through the umask-free path, but the owner must be set explicitly so
    // only the two peers of a ring can map it.
    int fd = obj.get_mapping_handle().handle;
    if (fchmod(fd, mode) != 0)
      throw std::runtime_error(fmt::format("fchmod shm '{}': {}", name, strerror(errno)));
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && fchown(fd, uid, gid) != 0)
      throw std::runtime_error(fmt::format("fchown shm '{}' to {}:{}: {}", name, uid, gid,
                                           strerror(errno)));
    auto region = std::make_unique<bi::mapped_region>(obj, bi::read_write);
    std::memset(region->get_address(), 0, region->get_size());
    return ShmSegment(name, std::move(region));
  } catch (const bi::interprocess_exception& e) {
    throw std::runtime_error(fmt::format("create shm '{}' ({} bytes): {}", name, size, e.what()));
  }
}

ShmSegment ShmSegment::open(const std::string& name, bool writable) {
  try {
    auto mode = writable ? bi::read_write : bi::read_only;
    bi::shared_memory_object obj(bi::open_only, name.c_str(), mode);
    auto region = std::make_unique<bi::mapped_region>(obj, mode);
    return ShmSegment(name, std::move(region));
  } catch (const bi::interprocess_exception& e) {
    throw std::runtime_error(fmt::format("map shm '{}': {}", name, e.what()));
  }
}

void ShmSegment::remove(const std::string& name) { bi::shared_memory_object::remove(name.c_str()); }

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns) {
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000ULL),
              static_cast<long>(timeout_ns % 1'000'000'000ULL)};
  // EINTR, EAGAIN (value changed) and ETIMEDOUT all mean "look again"; the caller re-checks.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

}  // namespace ringward
