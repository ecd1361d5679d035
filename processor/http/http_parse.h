// HTTP/1.x message parser for captured buffers: request line / status line, headers, and the body
// prefix (chunk framing decoded, content codings recognised but never decoded). A buffer may hold
// several pipelined messages; they are returned in order. Captured buffers are cut at an arbitrary
// byte, so truncation is normal and reported separately from malformation.
// Trust: the input is attacker-controlled bytes. Every read is bounds-checked, every loop bounded by
// the input length or a ParseLimits cap; no recursion, no allocation beyond the capped body copy.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "processor/http/http_config.h"

namespace ringward::http {

// Why a buffer (or the message at some position in it) could not be parsed. Counted per reason.
enum class Malformed : uint8_t {
  kBadRequestLine,
  kBadMethod,
  kBadTarget,
  kBadVersion,
  kBadStatusLine,
  kBadHeader,
  kTooManyHeaders,
  kBadContentLength,
  kBadTransferEncoding,
  kBadChunk,
  kInputOverCap,
  kTooManyMessages,
  kBadHost,
  kCount,
};
inline constexpr size_t kMalformedCount = static_cast<size_t>(Malformed::kCount);
const char* malformed_name(Malformed reason);

enum class ContentCoding : uint8_t { kIdentity, kGzip, kDeflate, kBr, kZstd, kCompress, kOther };
const char* content_coding_name(ContentCoding coding);

// Headers the semantics layer uses; everything else is validated and skipped.
struct CommonHeaders {
  std::string_view host;
  bool has_host = false;
  std::optional<uint64_t> content_length;
  bool chunked = false;           // Transfer-Encoding ends in "chunked"
  ContentCoding coding = ContentCoding::kIdentity;
  std::string_view content_type;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

struct RequestHead {
  std::string_view method;
  std::string_view target;
  uint8_t version_minor = 1;      // HTTP/1.<minor>
  CommonHeaders headers;
  bool headers_complete = false;  // the blank line ending the header block was captured
  bool body_complete = false;     // the whole body (per its framing) was captured
};

struct ResponseHead {
  uint16_t status = 0;
  uint8_t version_minor = 1;
  CommonHeaders headers;
  bool headers_complete = false;
  bool interim = false;           // 1xx other than 101: precedes the final response
  std::string body;               // decoded prefix (chunk framing removed), <= max_body_prefix
  bool body_truncated = false;    // the body continues beyond the captured bytes or the cap
  bool body_complete = false;
};

template <typename Message>
struct ParseResult {
  std::vector<Message> messages;
  std::optional<Malformed> error;  // parsing stopped here; earlier messages are still valid
  bool truncated = false;          // the buffer ended inside a message
  size_t consumed = 0;             // bytes of complete messages
};

ParseResult<RequestHead> parse_requests(std::string_view bytes, const ParseLimits& limits);

// `request_methods` are the methods of the paired requests in order (a response to HEAD has no
// body); missing entries are treated as GET.
ParseResult<ResponseHead> parse_responses(std::string_view bytes, const ParseLimits& limits,
                                          std::span<const std::string_view> request_methods = {});

}  // namespace ringward::http
