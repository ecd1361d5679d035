// Sink configuration: key parsing, validation messages naming the key, and the factory.
#include <gtest/gtest.h>

#include "common/clock.h"
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
