#include "common/event_codec.h"

#include <cstring>

#include <kj/exception.h>
#include <kj/io.h>

namespace ringward {

size_t flat_message_size(capnp::MessageBuilder& msg) {
  return capnp::computeSerializedSizeInWords(msg) * sizeof(capnp::word);
}

bool write_message(RingWriter& ring, capnp::MessageBuilder& msg) {
  size_t size = flat_message_size(msg);
  if (size > ring.max_record()) return false;
  uint8_t* p = ring.reserve(static_cast<uint32_t>(size));
  if (p == nullptr) return false;
  kj::ArrayOutputStream out(kj::arrayPtr(reinterpret_cast<kj::byte*>(p), size));
  capnp::writeMessage(out, msg);
  ring.finish();
  return true;
}

void append_flat_message(capnp::MessageBuilder& msg, std::string& out) {
  size_t size = flat_message_size(msg);
  size_t at = out.size();
  out.resize(at + size);
  kj::ArrayOutputStream os(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data() + at), size));
  capnp::writeMessage(os, msg);
}

bool event_id_plausible(uint64_t id, uint64_t now_wall_ns, uint64_t skew_s) {
  uint64_t epoch = (id >> 32) & 0x7fffffffULL;
  return epoch != 0 && epoch <= now_wall_ns / 1'000'000'000ULL + skew_s;
}

EventDecoder::EventDecoder(size_t max_bytes) : max_bytes_(max_bytes) {}

std::optional<schema::Event::Reader> EventDecoder::decode(std::span<const uint8_t> record) {
  reader_.reset();
  if (record.size() > max_bytes_) {
    error_ = "too_large";
    return std::nullopt;
  }
  if (record.size() < 16 || record.size() % sizeof(capnp::word) != 0) {
    error_ = "decode_error";
    return std::nullopt;
  }
  size_t words = record.size() / sizeof(capnp::word);
  buffer_.copy(record);
  capnp::ReaderOptions opts;
  opts.traversalLimitInWords = words * 4 + 64;  // bounds amplification by shared pointers
  opts.nestingLimit = 16;
  try {
    reader_.emplace(kj::arrayPtr(const_cast<const capnp::word*>(buffer_.data()), words), opts);
    auto ev = reader_->getRoot<schema::Event>();
    // Cap'n Proto checks pointers lazily: walk the whole message now (bounded by the traversal
    // limit) so a malformed pointer fails here, not in whatever later reads the field.
    (void)ev.totalSize();
    (void)ev.getKind().which();
    return ev;
  } catch (const kj::Exception& e) {
    reader_.reset();
    error_ = "decode_error";
    return std::nullopt;
  }
}

}  // namespace ringward
