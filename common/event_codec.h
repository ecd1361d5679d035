// Encoding events into ring records and decoding records read from a ring or a file. Decoding
// treats the bytes as hostile: they are copied into private aligned memory first (a peer cannot
// change them mid-parse), the message is read with traversal and nesting limits, and every failure
// is a value, never an exception escaping to the caller.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "common/ring.h"
#include "event.capnp.h"

namespace ringward {

// Word-aligned private memory for a copy of a record (Cap'n Proto reads words in place). Not a
// std::vector: capnp::word is not copyable under every compiler.
class AlignedBuffer {
 public:
  capnp::word* ensure(size_t words) {
    if (words > capacity_) {
      data_ = std::make_unique<capnp::word[]>(words);
      capacity_ = words;
    }
    return data_.get();
  }
  // Copies `bytes` (padded with zeros to whole words) and returns the copy.
  std::span<const uint8_t> copy(std::span<const uint8_t> bytes) {
    size_t words = (bytes.size() + sizeof(capnp::word) - 1) / sizeof(capnp::word);
    auto* p = reinterpret_cast<uint8_t*>(ensure(words == 0 ? 1 : words));
    std::memcpy(p, bytes.data(), bytes.size());
    return {p, bytes.size()};
  }
  capnp::word* data() const { return data_.get(); }

 private:
  std::unique_ptr<capnp::word[]> data_;
  size_t capacity_ = 0;
};

// Serialized (flat, unpacked) size of a message in bytes.
size_t flat_message_size(capnp::MessageBuilder& msg);
// Writes the message as one ring record; false when the ring has no room (nothing written).
bool write_message(RingWriter& ring, capnp::MessageBuilder& msg);
// Appends the flat encoding to `out`.
void append_flat_message(capnp::MessageBuilder& msg, std::string& out);

// An id can only come from an epoch that has started: the epoch (bits 62..32, seconds) must not be
// ahead of the wall clock by more than `skew_s`. The shipper de-duplicates replays by "id <= last
// seen", so without this check one garbage or forged record with a huge id would make every later
// event look like a duplicate.
bool event_id_plausible(uint64_t id, uint64_t now_wall_ns, uint64_t skew_s = 300);

class EventDecoder {
 public:
  explicit EventDecoder(size_t max_bytes = 1 << 20);
  // Decodes a record. On failure returns nullopt and sets error(). The reader stays valid until the
  // next call.
  std::optional<schema::Event::Reader> decode(std::span<const uint8_t> record);
  const std::string& error() const { return error_; }

 private:
  size_t max_bytes_;
  AlignedBuffer buffer_;
  std::optional<capnp::FlatArrayMessageReader> reader_;
  std::string error_;
};

}  // namespace ringward
