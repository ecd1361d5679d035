// Test helpers for the shipper core suite: real Cap'n Proto events and temp directories.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "event.capnp.h"
#include "shipper/core/disk_buffer.h"
#include "shipper/core/sink.h"

namespace ringward::shipper::testing {

inline OutEvent make_event(uint64_t id, schema::Priority prio = schema::Priority::NORMAL,
                           size_t payload = 100) {
  capnp::MallocMessageBuilder mb;
  auto e = mb.initRoot<schema::Event>();
  e.setId(id);
  e.setWallNs(1'700'000'000'000'000'000ULL + id);
  e.setHost("test-host");
  e.setPid(static_cast<uint32_t>(id % 100000));
  e.setPriority(prio);
  auto fo = e.getKind().initFileOpen();
  std::string path = "/tmp/file-" + std::to_string(id) + std::string(payload, 'x');
  fo.setPath(kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(path.data()), path.size()));
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  OutEvent ev;
  ev.id = id;
  ev.priority = prio;
  ev.wall_ns = e.getWallNs();
  ev.record.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return ev;
}

// Reads the event id back from the Cap'n Proto bytes (proves the payload survived intact).
inline uint64_t decoded_id(const OutEvent& ev) {
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(ev.record.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), ev.record.data(), words.size() * sizeof(capnp::word));
  capnp::FlatArrayMessageReader r(words);
  return r.getRoot<schema::Event>().getId();
}

// Offers `evs` to `b` in order: one append() each when `batch` is 1, else append_batch() runs
// of `batch` events. Returns the outcomes, one per event.
inline std::vector<AppendOutcome> offer(DiskBuffer& b, std::vector<OutEvent> evs, size_t batch) {
  std::vector<AppendOutcome> outs;
  if (batch <= 1) {
    for (auto& ev : evs) outs.push_back(b.append(std::move(ev)));
    return outs;
  }
  for (size_t i = 0; i < evs.size(); i += batch) {
    std::vector<OutEvent> run(std::make_move_iterator(evs.begin() + static_cast<ptrdiff_t>(i)),
                              std::make_move_iterator(evs.begin() + static_cast<ptrdiff_t>(std::min(i + batch, evs.size()))));
    for (auto& o : b.append_batch(std::move(run))) outs.push_back(std::move(o));
  }
  return outs;
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    path_ = std::filesystem::temp_directory_path() /
            ("ringward-core-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ringward::shipper::testing
