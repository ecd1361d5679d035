// The NDJSON file the default sink appends to. On open it repairs a torn last line (a crash
// mid-write) and reports the highest event id per origin already in the file, so a restarted
// shipper neither duplicates nor loses the records it wrote just before dying.
// Trust: shipper process; the file is ringward's own output.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace ringward::shipper {

class NdjsonFile {
 public:
  // Opens (creating with mode 0640) and repairs the file; throws std::runtime_error with context.
  explicit NdjsonFile(std::string path);
  ~NdjsonFile();
  NdjsonFile(const NdjsonFile&) = delete;
  NdjsonFile& operator=(const NdjsonFile&) = delete;

  // Appends complete lines; retries EINTR and short writes. Throws on I/O error (ENOSPC...).
  void append(const std::string& lines);
  void sync();
  // Highest id seen in the file for each origin (bit 63 of the id), 0 when none.
  const std::array<uint64_t, 2>& last_ids() const { return last_ids_; }
  uint64_t repaired_bytes() const { return repaired_bytes_; }
  const std::string& path() const { return path_; }

 private:
  void scan_tail();
  std::string path_;
  int fd_ = -1;
  std::array<uint64_t, 2> last_ids_{};
  uint64_t repaired_bytes_ = 0;
};

}  // namespace ringward::shipper
