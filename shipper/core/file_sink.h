// FileSink: the `file` sink, NDJSON (one JSON object per event, common/event_json.h) appended to
// `path`, rotated by size (`max_file_mb`) keeping `max_files` old files path.1 .. path.N. A batch
// is "ok" once written and fdatasync'd. An undecodable record is rejected to the DLQ, never
// written half. Crash recovery keeps the file exactly-once: on open a torn last line (a crash
// mid-write) is cut, and the highest event id per origin already in the file is remembered; the
// replayed events up to it are acknowledged as duplicates instead of written twice. Trust: shipper process; event bytes are decoded with traversal limits.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "shipper/core/io_util.h"
#include "shipper/core/sink.h"

namespace ringward::shipper {

struct FileSinkOptions {
  std::filesystem::path path;
  uint64_t max_file_bytes = 100ull << 20;
  size_t max_files = 5;
  bool fsync = true;
};

class FileSink final : public Sink {
 public:
  static std::unique_ptr<FileSink> open(FileSinkOptions o, io::IoError& err);
  std::string_view name() const override { return name_; }
  SendResult send(std::span<const OutEvent> batch) override;

  uint64_t rotations() const { return rotations_; }
  uint64_t repaired_bytes() const { return repaired_bytes_; }
  // Highest id per origin (bit 63) found in the file at open; 0 when none.
  uint64_t last_id_at_open(int origin) const { return skip_through_open_[origin & 1]; }

 private:
  explicit FileSink(FileSinkOptions o);
  io::IoError open_current();
  io::IoError repair_and_scan();
  io::IoError rotate();

  FileSinkOptions o_;
  std::string name_;
  io::Fd fd_;
  uint64_t size_ = 0;
  uint64_t rotations_ = 0;
  uint64_t repaired_bytes_ = 0;
  uint64_t skip_through_[2] = {0, 0};  // cleared per origin once the replay passed it
  uint64_t skip_through_open_[2] = {0, 0};
  std::string out_;  // the batch being rendered (send() runs on one thread)
};

}  // namespace ringward::shipper
