// OTLP/HTTP logs sink against a real OTLP receiver on 127.0.0.1: every field of every record as
// the receiver decodes it (protobuf and JSON), and the retry / permanent / partial-success rules.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "shipper/sinks/event_view.h"
#include "shipper/sinks/otlp_http_sink.h"
#include "shipper/sinks/protobuf_writer.h"
#include "tests/sinks/http_receiver.h"
#include "tests/sinks/test_events.h"

namespace ringward::shipper::sinks {
namespace {

using test::OtlpReceiver;
using test::Reply;

SinkConfig otlp_config(const std::string& endpoint, const std::string& encoding = "protobuf") {
  SinkConfig c;
  c.type = "otlp_http";
  c.endpoint = endpoint;
  c.encoding = encoding;
  c.request_timeout = std::chrono::milliseconds(2000);
  return c;
}

std::vector<OutEvent> mixed_batch() {
  std::vector<OutEvent> batch;
  const schema::Priority prios[] = {schema::Priority::LOW, schema::Priority::NORMAL, schema::Priority::HIGH,
                                    schema::Priority::CRITICAL};
  for (int i = 0; i < 4; ++i) {
    test::EventSpec s;
    s.id = 0x8000000000000000ULL + static_cast<uint64_t>(i);  // > INT64_MAX: must survive as text
    s.wall_ns = 1'700'000'000'000'000'000ULL + static_cast<uint64_t>(i);
    s.host = i % 2 ? "host-b" : "host-a";
    s.pid = static_cast<uint32_t>(100 + i);
    s.priority = prios[i];
    s.verdict = i == 3 ? schema::Verdict::MALICIOUS : schema::Verdict::CLEAN;
    if (i == 3) s.rule_ids = {"R-1", "R-2"};
    batch.push_back(test::make_event(s));
  }
  return batch;
}

void check_records(const std::vector<OutEvent>& batch, const std::vector<test::OtlpRecord>& recs) {
  ASSERT_EQ(recs.size(), batch.size());
  // Records come grouped by host: host-a (events 0, 2) then host-b (1, 3).
  const size_t order[] = {0, 2, 1, 3};
  const int sev[] = {5, 9, 13, 17};
  const char* sev_text[] = {"low", "normal", "high", "critical"};
  for (size_t k = 0; k < recs.size(); ++k) {
    size_t i = order[k];
    const auto& r = recs[k];
    SCOPED_TRACE(i);
    EXPECT_EQ(r.host, i % 2 ? "host-b" : "host-a");
    EXPECT_EQ(r.service, "ringward");
    EXPECT_EQ(r.scope_name, "ringward");
    EXPECT_EQ(r.scope_version, RINGWARD_VERSION);
    EXPECT_EQ(r.time_ns, 1'700'000'000'000'000'000ULL + i);
    EXPECT_EQ(r.observed_ns, r.time_ns);
    EXPECT_EQ(r.severity, sev[i]);
    EXPECT_EQ(r.severity_text, sev_text[i]);
    std::string body;
    ASSERT_FALSE(with_event(batch[i], [&](schema::Event::Reader e) { append_event_json_object(e, body); }));
    EXPECT_EQ(r.body, body);  // byte for byte
    EXPECT_EQ(r.str_attrs.at("ringward.event.id"), std::to_string(0x8000000000000000ULL + i));
    EXPECT_EQ(r.str_attrs.at("ringward.event.kind"), "process_exec");
    EXPECT_EQ(r.str_attrs.at("ringward.priority"), sev_text[i]);
    EXPECT_EQ(r.str_attrs.at("ringward.verdict"), i == 3 ? "malicious" : "clean");
    EXPECT_EQ(r.int_attrs.at("process.pid"), static_cast<int64_t>(100 + i));
    if (i == 3) {
      EXPECT_EQ(r.list_attrs.at("ringward.rule_ids"), (std::vector<std::string>{"R-1", "R-2"}));
    } else {
      EXPECT_EQ(r.list_attrs.count("ringward.rule_ids"), 0u);
    }
  }
}

TEST(OtlpSink, ProtobufGzipEveryField) {
  OtlpReceiver rx;
  SystemClock clock;
  OtlpHttpSink sink(otlp_config(rx.endpoint()), clock);
  auto batch = mixed_batch();
  SendResult r = sink.send(batch);
  ASSERT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(r.protocol_status, 200);
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/logs");
  EXPECT_EQ(reqs[0].header("content-type"), "application/x-protobuf");
  EXPECT_EQ(reqs[0].header("content-encoding"), "gzip");
  EXPECT_EQ(rx.decode_errors(), 0u);
  check_records(batch, rx.records());
}

TEST(OtlpSink, JsonEncodingEveryField) {
  OtlpReceiver rx;
  SystemClock clock;
  auto c = otlp_config(rx.endpoint(), "json");
  c.compression = "none";
  OtlpHttpSink sink(c, clock);
  auto batch = mixed_batch();
  SendResult r = sink.send(batch);
  ASSERT_EQ(r.status, SendStatus::ok) << r.detail;
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].header("content-encoding"), "");
  EXPECT_NE(reqs[0].body.find("\"timeUnixNano\":\"1700000000000000000\""), std::string::npos);
  EXPECT_NE(reqs[0].body.find("\"intValue\":\"100\""), std::string::npos);
  check_records(batch, rx.records());
}

TEST(OtlpSink, ProtobufEncoderMatchesIndependentDecoderForManyShapes) {
  SystemClock clock;
  OtlpHttpSink sink(otlp_config("http://127.0.0.1:1"), clock);
  for (size_t n : {1u, 7u, 300u}) {
    auto batch = test::make_events(n, 1000);
    std::vector<size_t> sent;
    std::vector<Rejection> rejected;
    auto recs = test::decode_otlp_protobuf(sink.build_request(batch, sent, rejected));
    ASSERT_TRUE(recs);
    ASSERT_EQ(recs->size(), n);
    EXPECT_EQ(sent.size(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(recs->at(i).str_attrs.at("ringward.event.id"), std::to_string(1000 + i));
  }
}

TEST(OtlpSink, RetriesOnlyTheRetryableStatuses) {
  OtlpReceiver rx;
  ManualClock clock(1, 1'445'412'480'000'000'000ULL);  // 2015-10-21 07:28:00 UTC
  OtlpHttpSink sink(otlp_config(rx.endpoint()), clock);
  rx.script(Reply{429, "", "text/plain", {{"Retry-After", "Wed, 21 Oct 2015 07:28:05 GMT"}}});
  rx.script(Reply{502, ""});
  rx.script(Reply{503, "", "text/plain", {{"Retry-After", "3"}}});
  rx.script(Reply{504, ""});
  SendResult r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(5000));
  r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_EQ(r.protocol_status, 502);
  r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(3000));
  EXPECT_FALSE(r.backpressure);
  EXPECT_EQ(sink.send(test::make_events(2)).status, SendStatus::retry);
  for (int code : {400, 401, 403, 404, 413, 500}) {
    rx.script(Reply{code, "no"});
    r = sink.send(test::make_events(2));
    EXPECT_EQ(r.status, SendStatus::permanent) << code;
    EXPECT_EQ(r.protocol_status, code);
  }
  rx.script(Reply{201, "", "text/plain"});  // any 2xx, empty body
  EXPECT_EQ(sink.send(test::make_events(2)).status, SendStatus::ok);
  rx.script(Reply{503, R"({"status":"BACKPRESSURE"})"});
  r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure);
}

std::string partial_success_pb(int64_t rejected, const std::string& msg) {
  std::string out;
  pb::put_message(out, 1, [&](std::string& ps) {
    pb::put_int64(ps, 1, rejected);
    pb::put_bytes(ps, 2, msg);
  });
  return out;
}

TEST(OtlpSink, PartialSuccess) {
  OtlpReceiver rx;
  SystemClock clock;
  OtlpHttpSink sink(otlp_config(rx.endpoint()), clock);
  // Some of several refused: which ones is unknown, so the engine must split; never a plain retry.
  rx.script(Reply{200, partial_success_pb(1, "bad attribute"), "application/x-protobuf"});
  SendResult r = sink.send(test::make_events(3));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_NE(r.detail.find("1 of 3 rejected: bad attribute"), std::string::npos) << r.detail;
  // A single event refused: that is the one.
  rx.script(Reply{200, partial_success_pb(1, "too old"), "application/x-protobuf"});
  r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::ok);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].index, 0u);
  EXPECT_NE(r.rejected[0].reason.find("too old"), std::string::npos);
  // All refused, JSON answer.
  rx.script(Reply{200, R"({"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"quota"}})"});
  r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::ok);
  EXPECT_EQ(r.rejected.size(), 2u);
  // Zero rejected with a warning message is a full success.
  rx.script(Reply{200, partial_success_pb(0, "just a warning"), "application/x-protobuf"});
  r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::ok);
  EXPECT_TRUE(r.rejected.empty());
}

TEST(OtlpSink, SlowAndDroppedAreRetryWithBackpressure) {
  OtlpReceiver rx;
  SystemClock clock;
  auto c = otlp_config(rx.endpoint());
  c.request_timeout = std::chrono::milliseconds(200);
  OtlpHttpSink sink(c, clock);
  rx.script(Reply{200, "", "application/x-protobuf", {}, std::chrono::milliseconds(700)});
  SendResult r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure);

  test::DroppingPeer peer;
  OtlpHttpSink dropped(otlp_config(peer.endpoint()), clock);
  r = dropped.send(test::make_events(20));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure) << r.detail;
  EXPECT_EQ(r.protocol_status, 0);
}

TEST(OtlpSink, PartialSuccessParsersRejectGarbage) {
  EXPECT_FALSE(parse_partial_success_protobuf(std::string("\x0a\x05\x08", 3)));  // length past the end
  EXPECT_FALSE(parse_partial_success_protobuf(std::string("\x0a\x02\x08\xff", 4)));  // truncated varint
  auto ps = parse_partial_success_protobuf(partial_success_pb(7, "x"));
  ASSERT_TRUE(ps);
  EXPECT_EQ(ps->rejected, 7);
  EXPECT_FALSE(parse_partial_success_json("{"));
}

}  // namespace
}  // namespace ringward::shipper::sinks
