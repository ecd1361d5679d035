// Scriptable HTTP receivers for the sink tests: real cpp-httplib servers on 127.0.0.1 (ephemeral
// port) speaking the HEC and OTLP/HTTP protocols, with a queue of scripted answers (429, 503 +
// Retry-After, X-Backpressure, BACKPRESSURE body, slow answers) and a raw TCP peer that drops
// connections. Trust: test only.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shipper/sinks/json.h"

namespace ringward::shipper::sinks::test {

struct Reply {
  Reply() = default;
  Reply(int s, std::string b, std::string ct = "application/json",
        std::vector<std::pair<std::string, std::string>> h = {}, std::chrono::milliseconds d = {})
      : status(s), body(std::move(b)), content_type(std::move(ct)), headers(std::move(h)), delay(d) {}
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
};

struct Received {
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string raw_body;                        // as handed over by cpp-httplib
  std::string body;                            // decoded
  std::string header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
  }
};

// Common machinery: server thread, scripted replies, request log.
class HttpReceiver {
 public:
  HttpReceiver();
  virtual ~HttpReceiver();
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void script(Reply r);  // next data request gets this reply instead of the protocol's own
  std::vector<Received> requests() const;
  size_t request_count() const;

 protected:
  void start();  // after routes are registered
  // Decodes Content-Encoding; nullopt when the body is not what the header says.
  static std::optional<std::string> decode_body(const httplib::Request& req);
  // Pops a scripted reply if any (applying its delay) and writes it; true when one was used.
  bool scripted(httplib::Response& res);
  void record(const httplib::Request& req, const std::string& decoded);
  static void reply_json(httplib::Response& res, int status, const std::string& body);

  httplib::Server server_;
  mutable std::mutex mu_;

 private:
  std::deque<Reply> script_;
  std::vector<Received> log_;
  int port_ = 0;
  std::thread thread_;
};

// Splunk HEC: /services/collector/event (token check, gzip, concatenated JSON objects, code 6 with
// invalid-event-number for a malformed object), /services/collector/ack with per-channel ackIds.
class HecReceiver : public HttpReceiver {
 public:
  explicit HecReceiver(std::string token = "test-token", bool ack_enabled = false);
  // Events accepted (answered with success), in arrival order.
  std::vector<JsonValue> events() const;
  void set_ack_after_polls(int n) { ack_after_polls_ = n; }  // < 0: never acknowledge
  int ack_polls() const { return ack_polls_; }

 private:
  std::string token_;
  bool ack_enabled_;
  std::vector<JsonValue> events_;
  std::map<std::string, int64_t> next_ack_;          // channel -> next ackId
  std::map<std::pair<std::string, int64_t>, int> polls_;  // (channel, ackId) -> polls seen
  std::atomic<int> ack_after_polls_{1};
  std::atomic<int> ack_polls_{0};
};

// A TCP peer that accepts, reads what arrives for a moment, then closes without answering.
class DroppingPeer {
 public:
  DroppingPeer();
  ~DroppingPeer();
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace ringward::shipper::sinks::test

namespace ringward::shipper::sinks::test {

// One OTLP log record as a receiver decoded it (from protobuf or JSON).
struct OtlpRecord {
  std::string host;  // resource attribute host.name
  std::string service;
  std::string scope_name, scope_version;
  uint64_t time_ns = 0, observed_ns = 0;
  int severity = 0;
  std::string severity_text;
  std::string body;
  std::map<std::string, std::string> str_attrs;
  std::map<std::string, int64_t> int_attrs;
  std::map<std::string, std::vector<std::string>> list_attrs;
};

// OTLP/HTTP logs receiver: POST /v1/logs, protobuf or JSON by Content-Type, decoded field by field
// with the real OTLP field numbers; answers 200 with an empty ExportLogsServiceResponse.
class OtlpReceiver : public HttpReceiver {
 public:
  OtlpReceiver();
  std::vector<OtlpRecord> records() const;
  size_t decode_errors() const { return decode_errors_; }

 private:
  std::vector<OtlpRecord> records_;
  std::atomic<size_t> decode_errors_{0};
};

// Decoders, exposed for tests of the encoder itself.
std::optional<std::vector<OtlpRecord>> decode_otlp_protobuf(std::string_view body);
std::optional<std::vector<OtlpRecord>> decode_otlp_json(std::string_view body);

}  // namespace ringward::shipper::sinks::test
