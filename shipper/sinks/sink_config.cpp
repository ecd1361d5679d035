// Network sink configuration: key setter, validation and factory (see sink_config.h). Trust:
// shipper; values come from the operator's config and are checked with errors naming the key.
#include "shipper/sinks/sink_config.h"

#include <charconv>

#include "shipper/sinks/nats_jetstream_sink.h"
#include "shipper/sinks/otlp_http_sink.h"
#include "shipper/sinks/splunk_hec_sink.h"

namespace ringward::shipper::sinks {

namespace {

std::optional<bool> parse_bool(std::string_view v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return std::nullopt;
}

template <typename T>
std::optional<T> parse_uint(std::string_view v) {
  T out{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view v) {
  int64_t mult = 1;
  if (v.ends_with("ms")) v.remove_suffix(2);
  else if (v.ends_with("s")) { v.remove_suffix(1); mult = 1000; }
  else if (v.ends_with("m")) { v.remove_suffix(1); mult = 60'000; }
  auto n = parse_uint<int64_t>(v);
  if (!n || *n < 0 || *n > int64_t{1} << 40) return std::nullopt;
  return std::chrono::milliseconds(*n * mult);
}

bool http_url(const std::string& s) { return s.starts_with("http://") || s.starts_with("https://"); }

bool valid_subject(const std::string& s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string::npos) return false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '*' || c == '>') return false;
  }
  return true;
}

bool valid_stream_name(const std::string& s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    if (c == ' ' || c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> set_sink_key(SinkConfig& c, std::string_view key, std::string_view value) {
  auto bad = [&](const char* what) {
    return std::optional<std::string>("sink key '" + std::string(key) + "': '" + std::string(value) + "' is not " + what);
  };
  auto str = [&](std::string& field) -> std::optional<std::string> {
    field = std::string(value);
    return std::nullopt;
  };
  auto boolean = [&](bool& field) -> std::optional<std::string> {
    auto b = parse_bool(value);
    if (!b) return bad("a boolean (true/false)");
    field = *b;
    return std::nullopt;
  };
  auto duration = [&](std::chrono::milliseconds& field) -> std::optional<std::string> {
    auto d = parse_duration(value);
    if (!d) return bad("a duration (e.g. 500ms, 5s, 1m)");
    field = *d;
    return std::nullopt;
  };
  auto count = [&](size_t& field) -> std::optional<std::string> {
    auto n = parse_uint<size_t>(value);
    if (!n) return bad("a non-negative integer");
    field = *n;
    return std::nullopt;
  };
  if (key == "type") return str(c.type);
  if (key == "endpoint") return str(c.endpoint);
  if (key == "token") return str(c.token);
  if (key == "index") return str(c.index);
  if (key == "sourcetype") return str(c.sourcetype);
  if (key == "source") return str(c.source);
  if (key == "indexer_ack") return boolean(c.indexer_ack);
  if (key == "channel") return str(c.channel);
  if (key == "ack_timeout") return duration(c.ack_timeout);
  if (key == "ack_poll_interval") return duration(c.ack_poll_interval);
  if (key == "encoding") return str(c.encoding);
  if (key == "url") return str(c.url);
  if (key == "stream") return str(c.stream);
  if (key == "subject") return str(c.subject);
  if (key == "create_stream") return boolean(c.create_stream);
  if (key == "stream_replicas") {
    auto n = parse_uint<int>(value);
    if (!n) return bad("an integer");
    c.stream_replicas = *n;
    return std::nullopt;
  }
  if (key == "max_pending") return count(c.max_pending);
  if (key == "publish_timeout") return duration(c.publish_timeout);
  if (key == "batch_size") return count(c.batch_size);
  if (key == "flush_interval") return duration(c.flush_interval);
  if (key == "compression") return str(c.compression);
  if (key == "connect_timeout") return duration(c.connect_timeout);
  if (key == "request_timeout" || key == "timeout") return duration(c.request_timeout);
  if (key == "host") return str(c.host);
  // The keys of docs/configuration.md (common/config.cpp accepts exactly these per sink type).
  if (key == "timeout_ms" || key == "ack_timeout_ms") {
    auto n = parse_uint<uint64_t>(value);
    if (!n || *n == 0 || *n > 3'600'000) return bad("a number of milliseconds in 1 … 3600000");
    std::chrono::milliseconds ms(*n);
    if (key == "ack_timeout_ms") c.ack_timeout = ms;
    else if (c.type == "nats_jetstream") c.publish_timeout = ms;
    else c.request_timeout = ms;
    return std::nullopt;
  }
  if (key == "replicas") {
    auto n = parse_uint<int>(value);
    if (!n || *n < 1 || *n > 5) return bad("a replica count in 1 … 5");
    c.stream_replicas = *n;
    return std::nullopt;
  }
  if (key == "tls_verify") return boolean(c.tls_verify);
  if (key == "headers") {
    c.headers.clear();
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        return v;
      };
      item = trim(item);
      if (item.empty()) continue;
      size_t eq = item.find('=');
      std::string_view name = eq == std::string_view::npos ? std::string_view() : trim(item.substr(0, eq));
      std::string_view val = eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
      bool ok = !name.empty();
      for (char ch : name)  // an HTTP token: no separators, no control characters
        ok = ok && ch > 0x20 && ch < 0x7f && std::string_view("()<>@,;:\\\"/[]?={}").find(ch) == std::string_view::npos;
      for (char ch : val) ok = ok && (ch == '\t' || (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f));
      if (!ok) return bad("a list of name=value HTTP headers separated by commas");
      c.headers.emplace_back(std::string(name), std::string(val));
    }
    return std::nullopt;
  }
  return "unknown sink key '" + std::string(key) + "'";
}

std::vector<std::string> validate(const SinkConfig& c) {
  std::vector<std::string> e;
  const std::string where = "sink '" + c.type + "': ";
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) e.push_back(where + msg);
  };
  need(c.batch_size >= 1 && c.batch_size <= 100'000, "batch_size must be 1..100000");
  need(c.flush_interval.count() >= 1, "flush_interval must be at least 1ms");
  need(c.connect_timeout.count() >= 1, "connect_timeout must be at least 1ms");
  need(c.request_timeout.count() >= 1, "request_timeout must be at least 1ms");
  if (c.type == "splunk_hec") {
    need(http_url(c.endpoint), "endpoint must be an http:// or https:// URL (got '" + c.endpoint + "')");
    need(!c.token.empty(), "token is required");
    need(c.token.find_first_of("\r\n") == std::string::npos, "token must not contain line breaks");
    need(c.compression.empty() || c.compression == "none" || c.compression == "gzip", "compression must be none or gzip (HEC has no zstd)");
    need(c.sourcetype.find_first_of("\r\n") == std::string::npos, "sourcetype must not contain line breaks");
    if (c.indexer_ack) {
      need(c.ack_timeout.count() >= 1, "ack_timeout must be at least 1ms");
      need(c.ack_poll_interval.count() >= 1, "ack_poll_interval must be at least 1ms");
    }
    need(c.channel.empty() || c.channel.size() == 36, "channel must be a GUID (36 characters) or empty");
  } else if (c.type == "otlp_http") {
    need(http_url(c.endpoint), "endpoint must be an http:// or https:// URL (got '" + c.endpoint + "')");
    need(c.encoding.empty() || c.encoding == "protobuf" || c.encoding == "json", "encoding must be protobuf or json");
    need(c.compression.empty() || c.compression == "none" || c.compression == "gzip" || c.compression == "zstd",
         "compression must be none, gzip or zstd");
  } else if (c.type == "nats_jetstream") {
    need(!c.url.empty(), "url is required (nats://host:port, comma-separated for a cluster)");
    need(c.url.find("://") != std::string::npos, "url must be nats://host:port (got '" + c.url + "')");
    need(valid_stream_name(c.stream), "stream name '" + c.stream + "' is invalid (no spaces, '.', '*', '>', '/')");
    need(valid_subject(c.subject), "subject '" + c.subject + "' is invalid (no wildcards or empty tokens)");
    need(c.encoding.empty() || c.encoding == "json" || c.encoding == "capnp", "encoding must be json or capnp");
    need(c.compression.empty() || c.compression == "none",
         "compression is not supported by nats_jetstream (use none)");
    need(c.stream_replicas >= 1 && c.stream_replicas <= 5, "stream_replicas must be 1..5");
    need(c.publish_timeout.count() >= 1, "publish_timeout must be at least 1ms");
  } else {
    e.push_back("sink type '" + c.type + "' is not a network sink (splunk_hec, otlp_http, nats_jetstream)");
  }
  return e;
}

SinkOrError make_sink(const SinkConfig& c, const Clock& clock) {
  SinkOrError out;
  auto errors = validate(c);
  if (!errors.empty()) {
    for (size_t i = 0; i < errors.size(); ++i) out.error += (i ? "; " : "") + errors[i];
    return out;
  }
  if (c.type == "splunk_hec") out.sink = std::make_unique<SplunkHecSink>(c, clock);
  else if (c.type == "otlp_http") out.sink = std::make_unique<OtlpHttpSink>(c, clock);
  else out.sink = std::make_unique<NatsJetStreamSink>(c, clock);
  return out;
}

}  // namespace ringward::shipper::sinks
