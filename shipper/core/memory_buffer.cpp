// MemoryBuffer: bounded tail cache of the disk log. Trust: shipper process.
#include "shipper/core/memory_buffer.h"

#include <algorithm>

namespace ringward::shipper {

void MemoryBuffer::push(CachedRecord rec) {
  if (max_bytes_ == 0) return;
  // A gap in sequence numbers (a record skipped on write) would break index lookup: restart.
  if (!records_.empty() && rec.seq != records_.back().seq + 1) clear();
  bytes_ += cost(rec);
  records_.push_back(std::move(rec));
  while (bytes_ > max_bytes_ && !records_.empty()) {
    bytes_ -= cost(records_.front());
    records_.pop_front();
  }
}

const CachedRecord* MemoryBuffer::find(uint64_t seq) const {
  if (records_.empty() || seq < records_.front().seq || seq > records_.back().seq) return nullptr;
  return &records_[seq - records_.front().seq];
}

void MemoryBuffer::drop_segment(uint64_t segment) {
  // Records are in log order, so one segment's records are a contiguous run; dropping a run in
  // the middle would leave a sequence gap, so drop everything up to and including it.
  auto it = std::find_if(records_.rbegin(), records_.rend(),
                         [&](const CachedRecord& r) { return r.pos.segment == segment; });
  if (it == records_.rend()) return;
  size_t keep_from = static_cast<size_t>(records_.rend() - it);
  for (size_t i = 0; i < keep_from; ++i) {
    bytes_ -= cost(records_.front());
    records_.pop_front();
  }
}

void MemoryBuffer::clear() {
  records_.clear();
  bytes_ = 0;
}

}  // namespace ringward::shipper
