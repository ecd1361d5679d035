// Record framing for the disk buffer and DLQ. Trust: parses bytes that may be torn or corrupted.
#include "shipper/core/record.h"

#include <zlib.h>

#include <cstring>

namespace ringward::shipper::record {
namespace {

template <typename T>
void put(char* p, T v) {
  std::memcpy(p, &v, sizeof v);  // x86-64/aarch64 little-endian hosts only (documented format)
}
template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

uint32_t crc32(uint32_t seed, const void* data, size_t len) {
  uLong c = seed;
  const auto* b = static_cast<const Bytef*>(data);
  while (len > 0) {
    uInt chunk = len > (1u << 30) ? (1u << 30) : static_cast<uInt>(len);
    c = ::crc32(c, b, chunk);
    b += chunk;
    len -= chunk;
  }
  return static_cast<uint32_t>(c);
}

void encode(const Header& h, std::string_view payload, std::string& out) {
  char hdr[kHeaderSize] = {};
  put<uint32_t>(hdr + 0, kMagic);
  put<uint32_t>(hdr + 4, static_cast<uint32_t>(payload.size()));
  put<uint64_t>(hdr + 8, h.seq);
  put<uint64_t>(hdr + 16, h.event_id);
  put<uint64_t>(hdr + 24, h.wall_ns);
  put<uint32_t>(hdr + 32, h.sink_tag);
  put<uint8_t>(hdr + 36, h.priority);
  put<uint8_t>(hdr + 37, h.flags);
  uint32_t c = crc32(0, hdr, 40);
  c = crc32(c, payload.data(), payload.size());
  put<uint32_t>(hdr + 40, c);
  out.append(hdr, kHeaderSize);
  out.append(payload.data(), payload.size());
  out.append(padded(payload.size()) - payload.size(), '\0');
}

ParseError parse(const char* p, size_t avail, Parsed& out) {
  if (avail < kHeaderSize) return avail >= 4 && get<uint32_t>(p) != kMagic ? ParseError::bad_magic
                                                                           : ParseError::truncated;
  if (get<uint32_t>(p) != kMagic) return ParseError::bad_magic;
  uint32_t len = get<uint32_t>(p + 4);
  if (len > kMaxPayload) return ParseError::bad_length;
  size_t total = framed_size(len);
  if (total > avail) return ParseError::truncated;
  uint32_t c = crc32(0, p, 40);
  c = crc32(c, p + kHeaderSize, len);
  if (c != get<uint32_t>(p + 40)) return ParseError::bad_crc;
  out.header.length = len;
  out.header.seq = get<uint64_t>(p + 8);
  out.header.event_id = get<uint64_t>(p + 16);
  out.header.wall_ns = get<uint64_t>(p + 24);
  out.header.sink_tag = get<uint32_t>(p + 32);
  out.header.priority = get<uint8_t>(p + 36);
  out.header.flags = get<uint8_t>(p + 37);
  out.payload = std::string_view(p + kHeaderSize, len);
  out.total = total;
  return ParseError::none;
}

std::optional<size_t> resync(const char* p, size_t avail, size_t from) {
  static constexpr char kMagicBytes[4] = {'R', 'W', 'B', '1'};
  for (size_t i = from + 1; i + kHeaderSize <= avail; ++i) {
    const void* hit = std::memchr(p + i, 'R', avail - i);
    if (!hit) return std::nullopt;
    i = static_cast<size_t>(static_cast<const char*>(hit) - p);
    if (i + kHeaderSize > avail) return std::nullopt;
    if (std::memcmp(p + i, kMagicBytes, 4) != 0) continue;
    Parsed tmp;
    if (parse(p + i, avail - i, tmp) == ParseError::none) return i;
  }
  return std::nullopt;
}

uint32_t sink_tag(std::string_view sink_name) {
  uint32_t t = crc32(0, sink_name.data(), sink_name.size());
  return t == 0 ? 1 : t;
}

}  // namespace ringward::shipper::record
