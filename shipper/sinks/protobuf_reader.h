// A minimal bounds-checked protobuf wire-format reader: enough to read an OTLP export answer
// (partial success) and, in tests, to decode what the sink sent. Trust: reads untrusted bytes;
// every length is checked against what remains, malformed input sets ok() to false.
#pragma once

#include <cstdint>
#include <string_view>

#include "shipper/sinks/protobuf_writer.h"

namespace ringward::shipper::sinks::pb {

class Reader {
 public:
  explicit Reader(std::string_view buf) : buf_(buf) {}

  // Advances to the next field; false at the end or on malformed input (see ok()).
  bool next() {
    if (pos_ >= buf_.size() || !ok_) return false;
    uint64_t key = 0;
    if (!varint(key)) return false;
    field_ = static_cast<uint32_t>(key >> 3);
    wire_ = static_cast<WireType>(key & 7);
    if (field_ == 0) return fail();
    switch (wire_) {
      case kVarint: return varint(u64_);
      case kFixed64: return fixed(8);
      case kFixed32: return fixed(4);
      case kLen: {
        uint64_t n = 0;
        if (!varint(n) || n > buf_.size() - pos_) return fail();
        bytes_ = buf_.substr(pos_, n);
        pos_ += n;
        return true;
      }
      default: return fail();  // groups are not used by OTLP
    }
  }
  uint32_t field() const { return field_; }
  WireType wire() const { return wire_; }
  uint64_t u64() const { return u64_; }      // varint or fixed value
  std::string_view bytes() const { return bytes_; }  // length-delimited value
  bool ok() const { return ok_; }

 private:
  bool fail() {
    ok_ = false;
    return false;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= buf_.size()) return fail();
      uint8_t b = static_cast<uint8_t>(buf_[pos_++]);
      v |= uint64_t{b & 0x7Fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return fail();
  }
  bool fixed(size_t n) {
    if (buf_.size() - pos_ < n) return fail();
    u64_ = 0;
    for (size_t i = 0; i < n; ++i) u64_ |= uint64_t{static_cast<uint8_t>(buf_[pos_ + i])} << (8 * i);
    pos_ += n;
    return true;
  }

  std::string_view buf_;
  size_t pos_ = 0;
  bool ok_ = true;
  uint32_t field_ = 0;
  WireType wire_ = kVarint;
  uint64_t u64_ = 0;
  std::string_view bytes_;
};

}  // namespace ringward::shipper::sinks::pb
