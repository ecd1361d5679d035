// Events/s delivered by the network sinks to real loopback peers: the test HEC receiver
// (cpp-httplib, gzip or not, parsing every object) and a nats-server with JetStream (file store).
// Run: build-*/shipper/sinks/sinks_bench. Numbers swing a lot on shared 2-vCPU machines.
#include <benchmark/benchmark.h>

#include "common/clock.h"
#include "shipper/sinks/nats_jetstream_sink.h"
#include "shipper/sinks/otlp_http_sink.h"
#include "shipper/sinks/splunk_hec_sink.h"
#include "tests/sinks/http_receiver.h"
#include "tests/sinks/nats_server.h"
#include "tests/sinks/test_events.h"

namespace rs = ringward::shipper::sinks;

static void BM_HecLoopback(benchmark::State& state) {
  rs::test::HecReceiver rx;
  ringward::SystemClock clock;
  rs::SinkConfig c;
  c.type = "splunk_hec";
  c.endpoint = rx.endpoint();
  c.token = "test-token";
  c.compression = state.range(1) ? "gzip" : "none";
  rs::SplunkHecSink sink(c, clock);
  auto batch = rs::test::make_events(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto r = sink.send(batch);
    if (r.status != ringward::shipper::SendStatus::ok) state.SkipWithError(r.detail.c_str());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch.size()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HecLoopback)->Args({500, 0})->Args({500, 1})->UseRealTime()->Unit(benchmark::kMillisecond);

static void BM_OtlpLoopback(benchmark::State& state) {
  rs::test::OtlpReceiver rx;
  ringward::SystemClock clock;
  rs::SinkConfig c;
  c.type = "otlp_http";
  c.endpoint = rx.endpoint();
  c.compression = "none";
  rs::OtlpHttpSink sink(c, clock);
  auto batch = rs::test::make_events(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto r = sink.send(batch);
    if (r.status != ringward::shipper::SendStatus::ok) state.SkipWithError(r.detail.c_str());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch.size()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OtlpLoopback)->Arg(500)->UseRealTime()->Unit(benchmark::kMillisecond);

static void BM_JetStreamLoopback(benchmark::State& state) {
  rs::test::TempDir dir;
  rs::test::NatsServer server(
      "single.conf.in",
      {{"NAME", "bench"}, {"PORT", std::to_string(rs::test::free_tcp_port())}, {"STORE", (dir.path() / "js").string()}},
      dir.path());
  server.start();
  ringward::SystemClock clock;
  rs::SinkConfig c;
  c.type = "nats_jetstream";
  c.url = server.url();
  c.stream = "BENCH";
  c.subject = "bench.events";
  c.batch_size = static_cast<size_t>(state.range(0));
  c.max_pending = static_cast<size_t>(state.range(1));
  rs::NatsJetStreamSink sink(c, clock);
  uint64_t next_id = 1;
  size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = rs::test::make_events(n, next_id);  // fresh ids: no de-dup shortcut
    next_id += n;
    state.ResumeTiming();
    auto r = sink.send(batch);
    if (r.status != ringward::shipper::SendStatus::ok) state.SkipWithError(r.detail.c_str());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_JetStreamLoopback)->Args({500, 256})->Args({500, 32})->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
