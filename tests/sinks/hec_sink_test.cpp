// Splunk HEC sink against a real HEC-speaking receiver on 127.0.0.1: what arrives field by field,
// and how every class of answer (auth, busy, 429, backpressure signals, code 6, slow, dropped,
// indexer ack) is reported to the delivery engine.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "shipper/sinks/event_view.h"
#include "shipper/sinks/splunk_hec_sink.h"
#include "tests/sinks/http_receiver.h"
#include "tests/sinks/test_events.h"

namespace ringward::shipper::sinks {
namespace {

using test::HecReceiver;
using test::Reply;

bool json_equal(const JsonValue& a, const JsonValue& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case JsonValue::Type::null: return true;
    case JsonValue::Type::boolean: return a.boolean == b.boolean;
    case JsonValue::Type::number: return a.text == b.text;
    case JsonValue::Type::string: return a.text == b.text;
    case JsonValue::Type::array:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i)
        if (!json_equal(a.items[i], b.items[i])) return false;
      return true;
    case JsonValue::Type::object:
      if (a.members.size() != b.members.size()) return false;
      for (size_t i = 0; i < a.members.size(); ++i)
        if (a.members[i].first != b.members[i].first || !json_equal(a.members[i].second, b.members[i].second)) return false;
      return true;
  }
  return false;
}

SinkConfig hec_config(const std::string& endpoint) {
  SinkConfig c;
  c.type = "splunk_hec";
  c.endpoint = endpoint;
  c.token = "test-token";
  c.index = "security";
  c.request_timeout = std::chrono::milliseconds(2000);
  c.connect_timeout = std::chrono::milliseconds(1000);
  return c;
}

TEST(HecSink, DeliversEveryFieldGzipped) {
  HecReceiver rx;
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  std::vector<OutEvent> batch;
  test::EventSpec s;
  s.id = 0xABCDEF0100000001ULL;
  s.priority = schema::Priority::CRITICAL;
  s.verdict = schema::Verdict::MALICIOUS;
  s.rule_ids = {"R-100", "R-7"};
  s.host = "db\"1";
  batch.push_back(test::make_event(s));
  auto more = test::make_events(4, 10);
  batch.insert(batch.end(), more.begin(), more.end());

  SendResult r = sink.send(batch);
  ASSERT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(r.protocol_status, 200);
  EXPECT_FALSE(r.backpressure);
  EXPECT_TRUE(r.rejected.empty());

  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/services/collector/event");
  EXPECT_EQ(reqs[0].header("authorization"), "Splunk test-token");
  EXPECT_EQ(reqs[0].header("content-encoding"), "gzip");
  EXPECT_EQ(reqs[0].header("x-splunk-request-channel"), sink.channel());

  auto events = rx.events();
  ASSERT_EQ(events.size(), 5u);
  const JsonValue& e0 = events[0];
  EXPECT_EQ(e0.get("time")->text, "1700000000.123456");
  EXPECT_EQ(e0.get("host")->text, "db\"1");
  EXPECT_EQ(e0.get("source")->text, "ringward");
  EXPECT_EQ(e0.get("sourcetype")->text, "ringward:event");
  EXPECT_EQ(e0.get("index")->text, "security");
  const JsonValue* f = e0.get("fields");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get("type")->text, "process_exec");
  EXPECT_EQ(f->get("priority")->text, "critical");
  EXPECT_EQ(f->get("verdict")->text, "malicious");
  EXPECT_EQ(f->get("event_id")->text, std::to_string(s.id));
  ASSERT_EQ(f->get("rule_id")->items.size(), 2u);
  EXPECT_EQ(f->get("rule_id")->items[1].text, "R-7");
  // The event object is exactly the event's JSON rendering.
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string expect;
    ASSERT_FALSE(with_event(batch[i], [&](schema::Event::Reader e) { append_event_json_object(e, expect); }));
    auto want = parse_json(expect);
    ASSERT_TRUE(want) << expect;
    EXPECT_TRUE(json_equal(*events[i].get("event"), *want)) << i;
  }
  EXPECT_EQ(events[4].get("fields")->get("event_id")->text, "13");  // order kept
}

TEST(HecSink, UncompressedWhenConfigured) {
  HecReceiver rx;
  SystemClock clock;
  auto c = hec_config(rx.endpoint());
  c.compression = "none";
  SplunkHecSink sink(c, clock);
  ASSERT_EQ(sink.send(test::make_events(2)).status, SendStatus::ok);
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("content-encoding"), "");
  EXPECT_EQ(reqs[0].raw_body, reqs[0].body);
}

TEST(HecSink, BadTokenIsPermanent) {
  HecReceiver rx("other-token");
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  SendResult r = sink.send(test::make_events(3));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.protocol_status, 403);
  EXPECT_NE(r.detail.find("code 4"), std::string::npos) << r.detail;
  EXPECT_TRUE(rx.events().empty());
}

TEST(HecSink, BusyWithRetryAfterIsRetry) {
  HecReceiver rx;
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  rx.script(Reply{503, R"({"text":"Server is busy","code":9})", "application/json", {{"Retry-After", "7"}}});
  SendResult r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_EQ(r.protocol_status, 503);
  ASSERT_TRUE(r.retry_after);
  EXPECT_EQ(*r.retry_after, std::chrono::milliseconds(7000));
  EXPECT_FALSE(r.backpressure);
  // The same batch goes through once the server recovers.
  EXPECT_EQ(sink.send(test::make_events(2)).status, SendStatus::ok);
  EXPECT_EQ(rx.events().size(), 2u);
}

TEST(HecSink, UnhealthyAndInternalErrorAreRetry) {
  HecReceiver rx;
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  rx.script(Reply{503, R"({"text":"HEC is unhealthy, queues are full","code":19})"});
  rx.script(Reply{500, R"({"text":"Internal server error","code":8})"});
  rx.script(Reply{400, R"({"text":"Incorrect index","code":7})"});
  EXPECT_EQ(sink.send(test::make_events(1)).status, SendStatus::retry);
  EXPECT_EQ(sink.send(test::make_events(1)).status, SendStatus::retry);
  SendResult r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.protocol_status, 400);
}

TEST(HecSink, BackpressureSignals) {
  HecReceiver rx;
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  rx.script(Reply{429, "", "text/plain", {{"Retry-After", "2"}}});
  SendResult r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(2000));

  rx.script(Reply{503, R"({"status":"BACKPRESSURE"})"});
  r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure);

  // A 200 carrying {"status":"BACKPRESSURE"} and no success code is not taken as delivered.
  rx.script(Reply{200, R"({"status":"BACKPRESSURE"})"});
  r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure);

  // Accepted, but the peer asks to slow down.
  rx.script(Reply{200, R"({"text":"Success","code":0})", "application/json", {{"X-Backpressure", "true"}}});
  r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::ok);
  EXPECT_TRUE(r.backpressure);
}

TEST(HecSink, InvalidEventNumberRejectsThatEventOnly) {
  HecReceiver rx;
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  auto batch = test::make_events(4);
  batch[0].record = "garbage!";  // undecodable: never sent, rejected locally
  rx.script(Reply{400, R"({"text":"Invalid data format","code":6,"invalid-event-number":1})"});
  SendResult r = sink.send(batch);
  EXPECT_EQ(r.status, SendStatus::permanent);  // never a retry: the same request fails forever
  ASSERT_EQ(r.rejected.size(), 2u);
  EXPECT_EQ(r.rejected[0].index, 0u);
  EXPECT_NE(r.rejected[0].reason.find("corrupt event record"), std::string::npos) << r.rejected[0].reason;
  EXPECT_EQ(r.rejected[1].index, 2u);  // the peer's object #1 is batch index 2
  EXPECT_EQ(r.rejected[1].status, 400);
  // Alone in a request (as bisection ends), the bad event is ok + rejected: dead-lettered.
  rx.script(Reply{400, R"({"text":"Invalid data format","code":6,"invalid-event-number":0})"});
  r = sink.send(std::span<const OutEvent>(&batch[2], 1));
  EXPECT_EQ(r.status, SendStatus::ok);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].index, 0u);
  // The rest goes through: indexes 1 and 3.
  std::vector<OutEvent> rest{batch[1], batch[3]};
  EXPECT_EQ(sink.send(rest).status, SendStatus::ok);
  auto events = rx.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].get("fields")->get("event_id")->text, "2");
  EXPECT_EQ(events[1].get("fields")->get("event_id")->text, "4");
}

TEST(HecSink, CorruptRecordsNeverCrashAndAreReported) {
  HecReceiver rx;
  SystemClock clock;
  SplunkHecSink sink(hec_config(rx.endpoint()), clock);
  auto batch = test::make_events(3);
  // Flip pointer bytes of a real record: the decoder must refuse it or read it within bounds.
  for (size_t i = 8; i < batch[1].record.size(); i += 3) batch[1].record[i] = static_cast<char>(0xFF);
  batch[2].record.resize(7);
  SendResult r = sink.send(batch);
  EXPECT_EQ(r.status, SendStatus::ok) << r.detail;
  ASSERT_GE(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected.back().index, 2u);
  EXPECT_EQ(rx.events().size() + r.rejected.size(), 3u);
}

TEST(HecSink, SlowAnswerIsRetryWithBackpressure) {
  HecReceiver rx;
  SystemClock clock;
  auto c = hec_config(rx.endpoint());
  c.request_timeout = std::chrono::milliseconds(200);
  SplunkHecSink sink(c, clock);
  rx.script(Reply{200, R"({"text":"Success","code":0})", "application/json", {}, std::chrono::milliseconds(700)});
  SendResult r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_EQ(r.protocol_status, 0);
  EXPECT_TRUE(r.backpressure);
  EXPECT_NE(r.detail.find("HEC"), std::string::npos);
}

TEST(HecSink, DroppedConnectionIsRetryWithBackpressure) {
  test::DroppingPeer peer;
  SystemClock clock;
  SplunkHecSink sink(hec_config(peer.endpoint()), clock);
  SendResult r = sink.send(test::make_events(50));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_TRUE(r.backpressure) << r.detail;
  EXPECT_GE(peer.accepted(), 1);
}

TEST(HecSink, RefusedConnectionIsRetryWithoutBackpressure) {
  int port;
  { test::DroppingPeer p; port = p.port(); }  // closed again: nothing listens there now
  SystemClock clock;
  SplunkHecSink sink(hec_config("http://127.0.0.1:" + std::to_string(port)), clock);
  SendResult r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_FALSE(r.backpressure);
  EXPECT_EQ(r.protocol_status, 0);
}

TEST(HecSink, IndexerAckMakesOkMeanIndexed) {
  HecReceiver rx("test-token", /*ack_enabled=*/true);
  rx.set_ack_after_polls(3);
  SystemClock clock;
  auto c = hec_config(rx.endpoint());
  c.indexer_ack = true;
  c.ack_poll_interval = std::chrono::milliseconds(10);
  SplunkHecSink sink(c, clock);
  SendResult r = sink.send(test::make_events(3));
  EXPECT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(rx.ack_polls(), 3);
  EXPECT_NE(r.detail.find("indexed (ackId 0)"), std::string::npos) << r.detail;
  r = sink.send(test::make_events(1, 100));
  EXPECT_EQ(r.status, SendStatus::ok);
  EXPECT_NE(r.detail.find("ackId 1"), std::string::npos) << r.detail;
  for (const auto& req : rx.requests()) EXPECT_EQ(req.header("x-splunk-request-channel"), sink.channel());
}

TEST(HecSink, IndexerAckTimeoutIsAmbiguousRetry) {
  HecReceiver rx("test-token", true);
  rx.set_ack_after_polls(-1);
  SystemClock clock;
  auto c = hec_config(rx.endpoint());
  c.indexer_ack = true;
  c.ack_timeout = std::chrono::milliseconds(150);
  c.ack_poll_interval = std::chrono::milliseconds(20);
  SplunkHecSink sink(c, clock);
  SendResult r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_NE(r.detail.find("not confirmed"), std::string::npos) << r.detail;
  EXPECT_GE(rx.ack_polls(), 2);
}

TEST(HecSink, IndexerAckDisabledOnPeerIsPermanent) {
  HecReceiver rx("test-token", false);  // answers 200 without ackId, ack endpoint refuses
  SystemClock clock;
  auto c = hec_config(rx.endpoint());
  c.indexer_ack = true;
  SplunkHecSink sink(c, clock);
  SendResult r = sink.send(test::make_events(1));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_NE(r.detail.find("ackId"), std::string::npos) << r.detail;
}

}  // namespace
}  // namespace ringward::shipper::sinks
