// One reusable libcurl easy handle per HTTP sink: keep-alive connection reuse, connect and total
// timeouts, bounded answer size, and the answer's status, headers of interest and body. Also the
// compressors and the helpers both HTTP sinks use to read backpressure and Retry-After. Trust:
// shipper (network); answers are untrusted and capped.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"

using CURL = void;  // libcurl's handle type, kept out of this header

namespace ringward::shipper::sinks {

enum class Compression { none, gzip, zstd };

struct HttpTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds request{30000};  // whole request, answer included
  bool tls_verify = true;  // https: verify the peer's certificate and name (off only for tests)
};

struct HttpResponse {
  int curl_code = 0;      // CURLcode; 0 = an HTTP answer arrived
  std::string curl_error;  // curl's message when curl_code != 0
  long status = 0;         // HTTP status, 0 when none
  std::string content_type;
  std::optional<std::string> retry_after;  // raw header value
  bool x_backpressure = false;             // "X-Backpressure: true"
  std::string body;                        // capped at HttpClient::kMaxBody
  bool body_truncated = false;

  bool transport_error() const { return curl_code != 0; }
  // The connection broke after it was made (reset, closed without an answer, timeout): the peer
  // may have taken part of the request, and this is a backpressure signal.
  bool disconnected() const;
  bool timed_out() const;
};

class HttpClient {
 public:
  static constexpr size_t kMaxBody = 1 << 20;

  explicit HttpClient(HttpTimeouts timeouts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` with the given extra headers ("Name: value").
  HttpResponse post(const std::string& url, const std::vector<std::string>& headers, std::string_view body);

 private:
  CURL* curl_ = nullptr;
  HttpTimeouts timeouts_;
};

// Compresses `in`; nullopt only on a compressor failure (out of memory).
std::optional<std::string> compress(Compression c, std::string_view in);
std::optional<std::string> gunzip(std::string_view in, size_t max_out);  // tests and receivers
std::string_view content_encoding(Compression c);                          // "" for none

// Parses Retry-After: delta-seconds or an HTTP date (relative to the clock's wall time). Capped at
// one hour so a hostile or broken peer cannot park a sink for days; nullopt when unparseable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, const Clock& clock);

// True when a body is the {"status":"BACKPRESSURE"} signal.
bool body_signals_backpressure(std::string_view body);

// Builds "scheme://host:port" + path, avoiding a doubled slash.
std::string join_url(std::string_view endpoint, std::string_view path);

}  // namespace ringward::shipper::sinks
