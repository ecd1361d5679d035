// libcurl easy-handle wrapper and compression helpers (see http_client.h). Trust: shipper.
#include "shipper/sinks/http_client.h"

#include <curl/curl.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "shipper/sinks/json.h"

namespace ringward::shipper::sinks {

namespace {

struct Collector {
  HttpResponse* resp;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Collector*>(user)->resp;
  size_t len = size * n;
  size_t room = HttpClient::kMaxBody - std::min(HttpClient::kMaxBody, r->body.size());
  if (len > room) r->body_truncated = true;
  r->body.append(data, std::min(len, room));
  return len;  // keep reading so the connection stays reusable
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Collector*>(user)->resp;
  size_t len = size * n;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {  // a new answer (after 100 Continue or a redirect): reset
    r->retry_after.reset();
    r->x_backpressure = false;
    r->content_type.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  auto name = trim(line.substr(0, colon));
  auto value = trim(line.substr(colon + 1));
  if (iequals(name, "Retry-After")) r->retry_after = std::string(value.substr(0, 128));
  else if (iequals(name, "X-Backpressure")) r->x_backpressure = iequals(value, "true");
  else if (iequals(name, "Content-Type")) r->content_type = std::string(value.substr(0, 128));
  return len;
}

}  // namespace

bool HttpResponse::disconnected() const {
  switch (curl_code) {
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
      return true;
    default:
      return false;
  }
}

bool HttpResponse::timed_out() const { return curl_code == CURLE_OPERATION_TIMEDOUT; }

HttpClient::HttpClient(HttpTimeouts timeouts) : curl_(curl_easy_init()), timeouts_(timeouts) {}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(curl_);
}

HttpResponse HttpClient::post(const std::string& url, const std::vector<std::string>& headers, std::string_view body) {
  HttpResponse resp;
  if (!curl_) {
    curl_ = curl_easy_init();
    if (!curl_) {
      resp.curl_code = CURLE_FAILED_INIT;
      resp.curl_error = "curl_easy_init failed";
      return resp;
    }
  }
  CURL* c = curl_;
  curl_easy_reset(c);  // keeps the connection cache, clears per-request options
  Collector col{&resp};
  char errbuf[CURL_ERROR_SIZE] = {0};
  struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };
  std::unique_ptr<curl_slist, SlistDeleter> hdrs;
  for (const auto& h : headers) hdrs.reset(curl_slist_append(hdrs.release(), h.c_str()));
  // libcurl sends "Expect: 100-continue" for large bodies and waits up to 1 s for it; peers such as
  // HEC answer directly, so switch it off.
  hdrs.reset(curl_slist_append(hdrs.release(), "Expect:"));
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads + timeouts: no SIGALRM
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs.get());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts_.connect.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts_.request.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, timeouts_.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, timeouts_.tls_verify ? 2L : 0L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is a config error, not followed
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &col);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &col);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    resp.curl_code = rc;
    resp.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return resp;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

std::optional<std::string> compress(Compression c, std::string_view in) {
  if (c == Compression::none) return std::string(in);
  if (c == Compression::zstd) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    if (ZSTD_isError(n)) return std::nullopt;
    out.resize(n);
    return out;
  }
  z_stream zs{};
  // windowBits 15 + 16: gzip wrapper, as Content-Encoding: gzip requires.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  out.resize(n);
  return out;
}

std::optional<std::string> gunzip(std::string_view in, size_t max_out) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return std::nullopt;  // +32: gzip or zlib header
  std::string out;
  char buf[16384];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_out) { rc = Z_MEM_ERROR; break; }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) { rc = Z_DATA_ERROR; break; }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

std::string_view content_encoding(Compression c) {
  switch (c) {
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
    case Compression::none: break;
  }
  return "";
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, const Clock& clock) {
  constexpr int64_t kCapMs = 3600 * 1000;
  v = trim(v);
  if (v.empty()) return std::nullopt;
  int64_t secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec == std::errc() && p == v.data() + v.size()) {
    if (secs < 0) return std::nullopt;
    return std::chrono::milliseconds(std::min<int64_t>(secs, kCapMs / 1000) * 1000);
  }
  if (ec == std::errc::result_out_of_range) return std::chrono::milliseconds(kCapMs);
  std::string date(v);
  time_t t = curl_getdate(date.c_str(), nullptr);
  if (t < 0) return std::nullopt;
  int64_t now_ms = static_cast<int64_t>(clock.wall_ns() / 1'000'000ULL);
  int64_t delta = static_cast<int64_t>(t) * 1000 - now_ms;
  return std::chrono::milliseconds(std::clamp<int64_t>(delta, 0, kCapMs));
}

bool body_signals_backpressure(std::string_view body) {
  if (body.size() > 4096 || body.find("BACKPRESSURE") == std::string_view::npos) return false;
  auto v = parse_json(body);
  if (!v) return false;
  const JsonValue* s = v->get("status");
  return s && s->type == JsonValue::Type::string && s->text == "BACKPRESSURE";
}

std::string join_url(std::string_view endpoint, std::string_view path) {
  std::string url(endpoint);
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += path;
  return url;
}

}  // namespace ringward::shipper::sinks
