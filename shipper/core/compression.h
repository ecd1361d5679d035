// Compression helpers for sinks: gzip (zlib, RFC 1952, what HTTP `Content-Encoding: gzip` means)
// and zstd (libzstd). Failures are values. Trust: shipper process; decompression is bounded
// (`max_out`) because test receivers and sinks use it on bytes from peers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ringward::shipper {

enum class Compression { none, gzip, zstd };
std::optional<Compression> parse_compression(std::string_view s);  // "none"|"gzip"|"zstd"
const char* to_string(Compression c);

struct CompressResult {
  bool ok = false;
  std::string data;
  std::string error;
};

CompressResult gzip_compress(std::string_view in, int level = 6);
CompressResult gzip_decompress(std::string_view in, size_t max_out = 64u << 20);
CompressResult zstd_compress(std::string_view in, int level = 3);
CompressResult zstd_decompress(std::string_view in, size_t max_out = 64u << 20);
CompressResult compress(Compression c, std::string_view in);

}  // namespace ringward::shipper
