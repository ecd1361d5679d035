// On-disk record framing shared by the disk buffer and the dead-letter queue: a fixed 48-byte
// little-endian header then the event's flat Cap'n Proto bytes (unchanged, so `capnp decode` reads
// a payload cut out at offset 48), padded to 8 bytes. Trust: the files are the shipper's own, but a
// crash or a bad disk can tear or flip them, so every parse checks magic, bounds and CRC-32.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shipper/core/sink.h"

namespace ringward::shipper::record {

inline constexpr uint32_t kMagic = 0x31425752;  // "RWB1" read as little-endian bytes
inline constexpr size_t kHeaderSize = 48;
inline constexpr uint32_t kMaxPayload = 16u << 20;  // larger lengths are corruption, not records

// Header layout (offsets): 0 magic u32, 4 length u32, 8 seq u64, 16 event_id u64, 24 wall_ns u64,
// 32 sink_tag u32 (0 = every sink), 36 priority u8, 37 flags u8, 38 reserved u16,
// 40 crc32 u32 over bytes [0,40) + payload, 44 reserved u32.
struct Header {
  uint32_t length = 0;
  uint64_t seq = 0;
  uint64_t event_id = 0;
  uint64_t wall_ns = 0;
  uint32_t sink_tag = 0;
  uint8_t priority = 0;
  uint8_t flags = 0;
};

inline size_t padded(size_t n) { return (n + 7) & ~size_t{7}; }
inline size_t framed_size(size_t payload) { return kHeaderSize + padded(payload); }

// Appends header + payload + padding to `out`.
void encode(const Header& h, std::string_view payload, std::string& out);

struct Parsed {
  Header header;
  std::string_view payload;
  size_t total = 0;  // framed size, including padding
};

enum class ParseError { none, truncated, bad_magic, bad_length, bad_crc };

// Parses one record at the start of [p, p+avail). `truncated` means the bytes end before the
// record does (a torn tail when nothing valid follows).
ParseError parse(const char* p, size_t avail, Parsed& out);

// Offset of the next position after `from` where a valid record starts, or nullopt. Byte-wise
// search so a corrupted length cannot make us skip valid records that follow.
std::optional<size_t> resync(const char* p, size_t avail, size_t from);

// Stable non-zero tag of a sink name, stored in records meant for one sink only (DLQ replay).
uint32_t sink_tag(std::string_view sink_name);

uint32_t crc32(uint32_t seed, const void* data, size_t len);

}  // namespace ringward::shipper::record
