// Configuration of the network sinks ([[shipper.sinks]] entries of type splunk_hec, otlp_http,
// nats_jetstream), its validation, and the factory the shipper main calls. Trust: shipper; the
// values come from the operator's config file and are checked here with errors naming the key.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "shipper/core/sink.h"

namespace ringward::shipper::sinks {

struct SinkConfig {
  std::string type;  // "splunk_hec" | "otlp_http" | "nats_jetstream"

  // splunk_hec
  std::string endpoint;  // also otlp_http: "http(s)://host:port" (path appended by the sink)
  std::string token;
  std::string index;                       // empty: the token's default index
  std::string sourcetype = "ringward:event";
  std::string source = "ringward";
  bool indexer_ack = false;
  std::string channel;  // HEC channel GUID; generated per sink when empty
  std::chrono::milliseconds ack_timeout{30000};
  std::chrono::milliseconds ack_poll_interval{250};

  // otlp_http: "protobuf" (default) | "json"; nats_jetstream: "json" (default) | "capnp"
  std::string encoding;

  // nats_jetstream
  std::string url;  // "nats://host:port", comma-separated for a cluster
  std::string stream = "RINGWARD";
  std::string subject = "ringward.events";
  bool create_stream = true;
  int stream_replicas = 1;             // used when the sink creates the stream
  size_t max_pending = 0;              // async publishes in flight; 0 = batch_size
  std::chrono::milliseconds publish_timeout{5000};  // per-message PubAck wait

  // common
  size_t batch_size = 500;
  std::chrono::milliseconds flush_interval{1000};
  // "" = the protocol's default (gzip for HEC and OTLP, none for JetStream) | "none" | "gzip" |
  // "zstd" (otlp_http only)
  std::string compression;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  std::string host;  // overrides each event's host in HEC/OTLP metadata when set
  bool tls_verify = true;  // splunk_hec, otlp_http over https
  // otlp_http: extra request headers, from `headers = "k1=v1,k2=v2"` (the format of
  // OTEL_EXPORTER_OTLP_HEADERS), e.g. an authorization header for a collector.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Sets one key from its textual value ("true", "250ms", "5s", "100"): the hook for the TOML
// loader and RINGWARD_* environment overrides. Returns an error naming the key when the key is
// unknown or the value does not parse. Durations accept ms, s, m suffixes (bare numbers: ms).
std::optional<std::string> set_sink_key(SinkConfig& c, std::string_view key, std::string_view value);

// Every problem with the configuration, each naming its key; empty when valid.
std::vector<std::string> validate(const SinkConfig& c);

struct SinkOrError {
  std::unique_ptr<Sink> sink;
  std::string error;  // set when sink is null
};

// Builds the sink after validate(). Never connects: a peer that is down at start is a retry on
// the first send, not a start-up failure. `clock` must outlive the sink.
SinkOrError make_sink(const SinkConfig& c, const Clock& clock);

}  // namespace ringward::shipper::sinks
