// NATS JetStream sink against real nats-server processes: stream creation, stored messages with
// their Nats-Msg-Id, server-side de-duplication of resends, a server that is down then up, and a
// 3-node cluster with a 3-replica stream losing a node mid-stream without losing an event.
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/clock.h"
#include "shipper/sinks/event_view.h"
#include "shipper/sinks/nats_jetstream_sink.h"
#include "tests/sinks/nats_server.h"
#include "tests/sinks/test_events.h"

namespace ringward::shipper::sinks {
namespace {

using test::NatsServer;
using test::TempDir;

struct StoredMsg {
  std::string msg_id;
  std::string data;
};

// Reads every message of a stream with a separate libnats connection.
std::optional<std::vector<StoredMsg>> read_stream(const std::string& url, const std::string& stream) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return std::nullopt;
  jsCtx* js = nullptr;
  std::vector<StoredMsg> out;
  bool ok = natsConnection_JetStream(&js, nc, nullptr) == NATS_OK;
  jsStreamInfo* si = nullptr;
  ok = ok && js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) == NATS_OK;
  if (ok) {
    for (uint64_t seq = si->State.FirstSeq; seq <= si->State.LastSeq && si->State.Msgs > 0; ++seq) {
      natsMsg* m = nullptr;
      if (js_GetMsg(&m, js, stream.c_str(), seq, nullptr, nullptr) != NATS_OK) {
        ok = false;
        break;
      }
      const char* id = nullptr;
      natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
      out.push_back(StoredMsg{id ? id : "", std::string(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)))});
      natsMsg_Destroy(m);
    }
    jsStreamInfo_Destroy(si);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  if (!ok) return std::nullopt;
  return out;
}

SinkConfig nats_config(const std::string& url) {
  SinkConfig c;
  c.type = "nats_jetstream";
  c.url = url;
  c.stream = "RW_TEST";
  c.subject = "ringward.test.events";
  c.batch_size = 64;
  c.max_pending = 16;  // smaller than the batches, so the in-flight bound is exercised
  c.publish_timeout = std::chrono::milliseconds(2000);
  c.connect_timeout = std::chrono::milliseconds(1000);
  c.request_timeout = std::chrono::milliseconds(3000);
  return c;
}

std::map<std::string, std::string> single_vars(const TempDir& dir, int port) {
  return {{"NAME", "n1"}, {"PORT", std::to_string(port)}, {"STORE", (dir.path() / "js").string()}};
}

TEST(NatsSink, StoresEveryEventWithItsIdAndDeduplicatesResends) {
  TempDir dir;
  NatsServer server("single.conf.in", single_vars(dir, test::free_tcp_port()), dir.path());
  server.start();
  SystemClock clock;
  NatsJetStreamSink sink(nats_config(server.url()), clock);
  auto batch = test::make_events(100, 5000);
  SendResult r = sink.send(batch);
  ASSERT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(sink.streams_created(), 1u);

  auto stored = read_stream(server.url(), "RW_TEST");
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ((*stored)[i].msg_id, std::to_string(5000 + i));
    std::string json;
    ASSERT_FALSE(with_event(batch[i], [&](schema::Event::Reader e) { append_event_json_object(e, json); }));
    EXPECT_EQ((*stored)[i].data, json);
  }

  // The engine resends after an ambiguous failure: the server recognises every id.
  r = sink.send(batch);
  ASSERT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(r.duplicates, 100u);
  stored = read_stream(server.url(), "RW_TEST");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->size(), 100u);

  // A partly new batch: only the new ones are stored.
  auto mixed = test::make_events(20, 5090);  // 5090..5109: 10 old, 10 new
  r = sink.send(mixed);
  ASSERT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(r.duplicates, 10u);
  EXPECT_EQ(read_stream(server.url(), "RW_TEST")->size(), 110u);
}

TEST(NatsSink, CapnpEncodingAndCorruptRecords) {
  TempDir dir;
  NatsServer server("single.conf.in", single_vars(dir, test::free_tcp_port()), dir.path());
  server.start();
  SystemClock clock;
  auto c = nats_config(server.url());
  c.encoding = "capnp";
  NatsJetStreamSink sink(c, clock);
  auto batch = test::make_events(3, 1);
  batch[1].record = "not a capnp message";
  SendResult r = sink.send(batch);
  EXPECT_EQ(r.status, SendStatus::ok) << r.detail;
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].index, 1u);
  auto stored = read_stream(server.url(), "RW_TEST");
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].data, batch[0].record);
  EXPECT_EQ((*stored)[1].data, batch[2].record);
  EXPECT_EQ((*stored)[1].msg_id, "3");
}

TEST(NatsSink, MissingStreamWithoutCreateIsRetryWithReason) {
  TempDir dir;
  NatsServer server("single.conf.in", single_vars(dir, test::free_tcp_port()), dir.path());
  server.start();
  SystemClock clock;
  auto c = nats_config(server.url());
  c.create_stream = false;
  NatsJetStreamSink sink(c, clock);
  SendResult r = sink.send(test::make_events(2));
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_NE(r.detail.find("create_stream = false"), std::string::npos) << r.detail;
}

TEST(NatsSink, ServerDownThenUp) {
  TempDir dir;
  int port = test::free_tcp_port();
  NatsServer server("single.conf.in", single_vars(dir, port), dir.path());
  SystemClock clock;
  NatsJetStreamSink sink(nats_config(server.url()), clock);
  auto batch = test::make_events(10);
  SendResult r = sink.send(batch);
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_NE(r.detail.find("connect"), std::string::npos) << r.detail;
  server.start();
  r = sink.send(batch);
  EXPECT_EQ(r.status, SendStatus::ok) << r.detail;
  EXPECT_EQ(read_stream(server.url(), "RW_TEST")->size(), 10u);
}

TEST(NatsSink, ClusterLosesANodeMidStreamWithoutLosingEvents) {
  TempDir dir;
  int ports[3], cports[3];
  for (int i = 0; i < 3; ++i) {
    ports[i] = test::free_tcp_port();
    cports[i] = test::free_tcp_port();
  }
  std::string routes;
  for (int i = 0; i < 3; ++i) routes += (i ? ", " : "") + std::string("nats-route://127.0.0.1:") + std::to_string(cports[i]);
  std::vector<std::unique_ptr<NatsServer>> nodes;
  std::string urls;
  for (int i = 0; i < 3; ++i) {
    std::string name = "n" + std::to_string(i + 1);
    nodes.push_back(std::make_unique<NatsServer>(
        "cluster-node.conf.in",
        std::map<std::string, std::string>{{"NAME", name},
                                           {"PORT", std::to_string(ports[i])},
                                           {"CLUSTER_PORT", std::to_string(cports[i])},
                                           {"ROUTES", routes},
                                           {"STORE", (dir.path() / name).string()}},
        dir.path()));
    urls += (i ? "," : "") + nodes.back()->url();
  }
  for (auto& n : nodes) n->start();

  SystemClock clock;
  auto c = nats_config(urls);
  c.stream_replicas = 3;
  NatsJetStreamSink sink(c, clock);

  // Acts as the delivery engine: resend a batch until it is acknowledged (bounded).
  uint64_t duplicates = 0, retries = 0;
  auto deliver = [&](const std::vector<OutEvent>& batch) {
    for (int attempt = 0; attempt < 60; ++attempt) {
      SendResult r = sink.send(batch);
      duplicates += r.duplicates;
      if (r.status == SendStatus::ok) return true;
      ++retries;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  };

  constexpr size_t kBatches = 12, kPerBatch = 50;
  std::atomic<bool> killed{false};
  std::thread killer;
  for (size_t b = 0; b < kBatches; ++b) {
    if (b == 3) {  // kill the first node (the one the sink most likely talks to) while publishing
      killer = std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        nodes[0]->kill();
        killed = true;
      });
    }
    ASSERT_TRUE(deliver(test::make_events(kPerBatch, 1 + b * kPerBatch))) << "batch " << b;
  }
  killer.join();
  ASSERT_TRUE(killed);

  // Every event is stored exactly once (resends were de-duplicated by Nats-Msg-Id).
  std::optional<std::vector<StoredMsg>> stored;
  for (int i = 1; i < 3 && !stored; ++i) stored = read_stream(nodes[i]->url(), "RW_TEST");
  ASSERT_TRUE(stored);
  std::set<std::string> ids;
  for (const auto& m : *stored) ids.insert(m.msg_id);
  EXPECT_EQ(ids.size(), kBatches * kPerBatch);
  EXPECT_EQ(stored->size(), kBatches * kPerBatch);
  for (size_t id = 1; id <= kBatches * kPerBatch; ++id) EXPECT_TRUE(ids.count(std::to_string(id))) << id;
  RecordProperty("retries", static_cast<int>(retries));
  RecordProperty("duplicates", static_cast<int>(duplicates));
  std::printf("cluster: %llu retries, %llu duplicates reported\n", static_cast<unsigned long long>(retries),
              static_cast<unsigned long long>(duplicates));
}

}  // namespace
}  // namespace ringward::shipper::sinks
