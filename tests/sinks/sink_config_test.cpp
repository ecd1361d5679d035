// Sink configuration: key parsing, validation messages naming the key, and the factory.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/config.h"
#include "shipper/sinks/sink_config.h"
#include "tests/sinks/http_receiver.h"
#include "tests/sinks/test_events.h"

namespace ringward::shipper::sinks {
namespace {

bool mentions(const std::vector<std::string>& errors, const std::string& word) {
  for (const auto& e : errors)
    if (e.find(word) != std::string::npos) return true;
  return false;
}

TEST(SinkConfig, SetKeyParsesTypedValues) {
  SinkConfig c;
  EXPECT_FALSE(set_sink_key(c, "type", "splunk_hec"));
  EXPECT_FALSE(set_sink_key(c, "indexer_ack", "true"));
  EXPECT_TRUE(c.indexer_ack);
  EXPECT_FALSE(set_sink_key(c, "flush_interval", "250ms"));
  EXPECT_EQ(c.flush_interval, std::chrono::milliseconds(250));
  EXPECT_FALSE(set_sink_key(c, "ack_timeout", "2m"));
  EXPECT_EQ(c.ack_timeout, std::chrono::milliseconds(120000));
  EXPECT_FALSE(set_sink_key(c, "request_timeout", "5s"));
  EXPECT_EQ(c.request_timeout, std::chrono::milliseconds(5000));
  EXPECT_FALSE(set_sink_key(c, "batch_size", "1000"));
  EXPECT_EQ(c.batch_size, 1000u);
  EXPECT_FALSE(set_sink_key(c, "create_stream", "false"));
  EXPECT_FALSE(c.create_stream);
  auto err = set_sink_key(c, "batch_size", "lots");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("batch_size"), std::string::npos);
  err = set_sink_key(c, "indexer_ack", "maybe");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("boolean"), std::string::npos);
  err = set_sink_key(c, "endpiont", "x");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("unknown sink key 'endpiont'"), std::string::npos);
}

// Every key docs/configuration.md lists for a sink (the config layer accepts exactly those) is
// applied by the sink configuration, the way the shipper's main applies it: a documented key that
// the sink ignored would be a silent misconfiguration (it happened with timeout_ms).
TEST(SinkConfig, EveryDocumentedKeyIsApplied) {
  const char* text = R"([[shipper.sinks]]
type = "splunk_hec"
endpoint = "https://hec.example:8088"
token = "00000000-0000-0000-0000-000000000000"
index = "sec"
sourcetype = "ringward:event"
source = "host-a"
indexer_ack = true
ack_timeout_ms = 45000
timeout_ms = 2000
tls_verify = false
batch_size = 100
flush_interval = "2s"
compression = "gzip"

[[shipper.sinks]]
type = "otlp_http"
endpoint = "http://127.0.0.1:4318"
encoding = "json"
timeout_ms = 1500
headers = "authorization=Bearer abc.def, x-scope-orgid = tenant-1"
tls_verify = true

[[shipper.sinks]]
type = "nats_jetstream"
url = "nats://127.0.0.1:4222"
stream = "RW"
subject = "rw.events"
create_stream = false
replicas = 3
max_pending = 64
timeout_ms = 750
)";
  auto loaded = ringward::load_config_text(text, "test.toml");
  ASSERT_TRUE(loaded.config) << loaded.error;
  std::vector<SinkConfig> built;
  for (const auto& sc : loaded.config->shipper.sinks) {
    SinkConfig c;
    c.type = sc.type;
    for (const auto& [k, v] : sc.options) {
      if (k == "name" || k == "max_retries") continue;  // the shipper's own keys
      auto e = set_sink_key(c, k, v);
      EXPECT_FALSE(e) << sc.type << "." << k << " = " << v << ": " << *e;
    }
    EXPECT_TRUE(validate(c).empty()) << sc.type << ": " << validate(c).front();
    built.push_back(c);
  }
  ASSERT_EQ(built.size(), 3u);
  EXPECT_EQ(built[0].request_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(built[0].ack_timeout, std::chrono::milliseconds(45000));
  EXPECT_FALSE(built[0].tls_verify);
  EXPECT_EQ(built[1].request_timeout, std::chrono::milliseconds(1500));
  ASSERT_EQ(built[1].headers.size(), 2u);
  EXPECT_EQ(built[1].headers[0], std::make_pair(std::string("authorization"), std::string("Bearer abc.def")));
  EXPECT_EQ(built[1].headers[1], std::make_pair(std::string("x-scope-orgid"), std::string("tenant-1")));
  EXPECT_EQ(built[2].publish_timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(built[2].stream_replicas, 3);

  SinkConfig bad;
  bad.type = "otlp_http";
  EXPECT_TRUE(set_sink_key(bad, "headers", "no-equals-sign"));
  EXPECT_TRUE(set_sink_key(bad, "headers", "bad name=x"));
  EXPECT_TRUE(set_sink_key(bad, "headers", std::string_view("x=a\nInjected: 1")));
  EXPECT_TRUE(set_sink_key(bad, "timeout_ms", "0"));
  EXPECT_TRUE(set_sink_key(bad, "replicas", "9"));
}

TEST(SinkConfig, ValidationNamesTheKey) {
  SinkConfig hec;
  hec.type = "splunk_hec";
  auto e = validate(hec);
  EXPECT_TRUE(mentions(e, "endpoint"));
  EXPECT_TRUE(mentions(e, "token"));
  hec.endpoint = "https://splunk:8088";
  hec.token = "t";
  hec.compression = "zstd";
  e = validate(hec);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(mentions(e, "compression"));
  hec.compression = "";
  EXPECT_TRUE(validate(hec).empty());

  SinkConfig otlp;
  otlp.type = "otlp_http";
  otlp.endpoint = "http://collector:4318";
  otlp.encoding = "xml";
  EXPECT_TRUE(mentions(validate(otlp), "encoding"));
  otlp.encoding = "json";
  otlp.compression = "zstd";
  EXPECT_TRUE(validate(otlp).empty());

  SinkConfig nats;
  nats.type = "nats_jetstream";
  EXPECT_TRUE(mentions(validate(nats), "url"));
  nats.url = "nats://a:4222,nats://b:4222";
  nats.subject = "events.>";
  nats.stream = "bad.name";
  e = validate(nats);
  EXPECT_TRUE(mentions(e, "subject"));
  EXPECT_TRUE(mentions(e, "stream"));
  nats.subject = "ringward.events";
  nats.stream = "RINGWARD";
  nats.batch_size = 0;
  EXPECT_TRUE(mentions(validate(nats), "batch_size"));

  SinkConfig file;
  file.type = "kafka";
  EXPECT_TRUE(mentions(validate(file), "not a network sink"));
}

TEST(SinkConfig, FactoryBuildsWorkingSinks) {
  SystemClock clock;
  SinkConfig bad;
  bad.type = "splunk_hec";
  auto made = make_sink(bad, clock);
  EXPECT_FALSE(made.sink);
  EXPECT_NE(made.error.find("token"), std::string::npos);

  test::HecReceiver rx;
  SinkConfig hec;
  hec.type = "splunk_hec";
  hec.endpoint = rx.endpoint();
  hec.token = "test-token";
  made = make_sink(hec, clock);
  ASSERT_TRUE(made.sink) << made.error;
  EXPECT_EQ(made.sink->name(), "splunk_hec:" + rx.endpoint());
  EXPECT_EQ(made.sink->send(test::make_events(2)).status, SendStatus::ok);
  EXPECT_EQ(rx.events().size(), 2u);

  SinkConfig nats;
  nats.type = "nats_jetstream";
  nats.url = "nats://127.0.0.1:1";  // nothing listens: built anyway, the first send retries
  nats.connect_timeout = std::chrono::milliseconds(200);
  made = make_sink(nats, clock);
  ASSERT_TRUE(made.sink) << made.error;
  EXPECT_EQ(made.sink->send(test::make_events(1)).status, SendStatus::retry);
}

}  // namespace
}  // namespace ringward::shipper::sinks
