// A minimal protobuf wire-format writer (varints, fixed64, length-delimited fields) for the OTLP
// sink, so the shipper needs no protobuf library. Nested messages are written into a scratch
// buffer and then prefixed with their length. Trust: shipper; writes only what it is given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringward::shipper::sinks::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

inline void put_tag(std::string& out, uint32_t field, WireType wt) { put_varint(out, (uint64_t{field} << 3) | wt); }

inline void put_uint(std::string& out, uint32_t field, uint64_t v) {
  put_tag(out, field, kVarint);
  put_varint(out, v);
}

// int64 fields are varints of the two's-complement value (10 bytes when negative).
inline void put_int64(std::string& out, uint32_t field, int64_t v) { put_uint(out, field, static_cast<uint64_t>(v)); }

inline void put_fixed64(std::string& out, uint32_t field, uint64_t v) {
  put_tag(out, field, kFixed64);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);  // little-endian
}

inline void put_bytes(std::string& out, uint32_t field, std::string_view v) {
  put_tag(out, field, kLen);
  put_varint(out, v.size());
  out.append(v);
}

// put_message(out, field, [&](std::string& m) { ...write fields of the nested message into m... })
template <typename Fn>
void put_message(std::string& out, uint32_t field, Fn&& fill) {
  std::string m;
  fill(m);
  put_bytes(out, field, m);
}

}  // namespace ringward::shipper::sinks::pb
