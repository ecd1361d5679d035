// gzip / zstd helpers. Trust: shipper process; decompression bounded.
#include "shipper/core/compression.h"

#include <zlib.h>
#include <zstd.h>

namespace ringward::shipper {

std::optional<Compression> parse_compression(std::string_view s) {
  if (s == "none" || s.empty()) return Compression::none;
  if (s == "gzip") return Compression::gzip;
  if (s == "zstd") return Compression::zstd;
  return std::nullopt;
}

const char* to_string(Compression c) {
  switch (c) {
    case Compression::none: return "none";
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
  }
  return "?";
}

CompressResult gzip_compress(std::string_view in, int level) {
  CompressResult r;
  z_stream zs{};
  // windowBits 15 + 16: gzip wrapper instead of zlib's.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    r.error = "gzip: deflateInit2 failed";
    return r;
  }
  r.data.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(r.data.data());
  zs.avail_out = static_cast<uInt>(r.data.size());
  int rc = deflate(&zs, Z_FINISH);
  r.data.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    r.error = "gzip: deflate failed (" + std::to_string(rc) + ")";
    r.data.clear();
    return r;
  }
  r.ok = true;
  return r;
}

CompressResult gzip_decompress(std::string_view in, size_t max_out) {
  CompressResult r;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {  // +32: accept gzip or zlib headers
    r.error = "gzip: inflateInit2 failed";
    return r;
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      r.error = "gzip: corrupt or truncated input (" + std::to_string(rc) + ")";
      break;
    }
    r.data.append(buf, sizeof buf - zs.avail_out);
    if (r.data.size() > max_out) {
      r.error = "gzip: output larger than " + std::to_string(max_out) + " bytes";
      break;
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      r.error = "gzip: truncated input";
      break;
    }
  }
  inflateEnd(&zs);
  r.ok = r.error.empty();
  if (!r.ok) r.data.clear();
  return r;
}

CompressResult zstd_compress(std::string_view in, int level) {
  CompressResult r;
  r.data.resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(r.data.data(), r.data.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) {
    r.error = std::string("zstd: ") + ZSTD_getErrorName(n);
    r.data.clear();
    return r;
  }
  r.data.resize(n);
  r.ok = true;
  return r;
}

CompressResult zstd_decompress(std::string_view in, size_t max_out) {
  CompressResult r;
  ZSTD_DStream* ds = ZSTD_createDStream();
  if (!ds) {
    r.error = "zstd: out of memory";
    return r;
  }
  ZSTD_initDStream(ds);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  char buf[16384];
  size_t rc = 1;
  while (ib.pos < ib.size || rc != 0) {
    ZSTD_outBuffer ob{buf, sizeof buf, 0};
    rc = ZSTD_decompressStream(ds, &ob, &ib);
    if (ZSTD_isError(rc)) {
      r.error = std::string("zstd: ") + ZSTD_getErrorName(rc);
      break;
    }
    r.data.append(buf, ob.pos);
    if (r.data.size() > max_out) {
      r.error = "zstd: output larger than " + std::to_string(max_out) + " bytes";
      break;
    }
    if (ib.pos == ib.size && ob.pos < ob.size && rc != 0) {
      r.error = "zstd: truncated input";
      break;
    }
  }
  ZSTD_freeDStream(ds);
  r.ok = r.error.empty();
  if (!r.ok) r.data.clear();
  return r;
}

CompressResult compress(Compression c, std::string_view in) {
  switch (c) {
    case Compression::gzip: return gzip_compress(in);
    case Compression::zstd: return zstd_compress(in);
    case Compression::none: break;
  }
  CompressResult r;
  r.ok = true;
  r.data.assign(in);
  return r;
}

}  // namespace ringward::shipper
