// Encoding events into ring records and decoding records read from a ring or a file. Decoding
// treats the bytes as hostile: they are copied into private aligned memory first (a peer cannot
// change them mid-parse), the message is read with traversal and nesting limits, and every failure
// is a value, never an exception escaping to the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "common/ring.h"
#include "event.capnp.h"

namespace ringward {

// Serialized (flat, unpacked) size of a message in bytes.
size_t flat_message_size(capnp::MessageBuilder& msg);
// Writes the message as one ring record; false when the ring has no room (nothing written).
bool write_message(RingWriter& ring, capnp::MessageBuilder& msg);
// Appends the flat encoding to `out`.
void append_flat_message(capnp::MessageBuilder& msg, std::string& out);

class EventDecoder {
 public:
  explicit EventDecoder(size_t max_bytes = 1 << 20);
  // Decodes a record. On failure returns nullopt and sets error(). The reader stays valid until the
  // next call.
  std::optional<schema::Event::Reader> decode(std::span<const uint8_t> record);
  const std::string& error() const { return error_; }

 private:
  size_t max_bytes_;
  std::vector<capnp::word> buffer_;
  std::optional<capnp::FlatArrayMessageReader> reader_;
  std::string error_;
};

}  // namespace ringward
