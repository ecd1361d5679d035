// HTTP semantics benchmarks: ns per captured exchange through HttpAnalyzer::observe (parse both
// buffers, route and service, business-error check, RED metrics, health), for the exchange the
// capture overhead benchmark produces (wrk against nginx returning a small JSON body) and for a
// larger API response. Trusted benchmark code; run: build/processor/http/http_bench
#include <benchmark/benchmark.h>

#include <string>

#include "common/clock.h"
#include "processor/http/analyzer.h"

namespace {

using ringward::http::ExchangeView;
using ringward::http::HttpAnalyzer;
using ringward::http::HttpConfig;

const std::string kWrkRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:40123\r\n\r\n";
const std::string kNginxResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 08:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n"
    "{\"ok\":true}";
const std::string kApiRequest =
    "GET /api/v1/orders/12345/items?page=2&sort=desc HTTP/1.1\r\nHost: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\n"
    "Accept-Encoding: gzip, deflate\r\nCookie: session=abcdef0123456789; theme=dark\r\n"
    "Connection: keep-alive\r\n\r\n";
const std::string kApiResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 06 Dec 2026 08:00:00 GMT\r\n"
    "Content-Type: application/json; charset=utf-8\r\nContent-Length: 412\r\n"
    "Connection: keep-alive\r\nCache-Control: no-store\r\nX-Request-Id: 7f3a9c2e-1b4d\r\n\r\n"
    "{\"order\":12345,\"status\":\"shipped\",\"items\":[{\"sku\":\"A-1\",\"qty\":2,\"price\":9.5},"
    "{\"sku\":\"B-7\",\"qty\":1,\"price\":120.0}],\"customer\":{\"id\":77,\"name\":\"Ada\","
    "\"tier\":\"gold\"},\"shipping\":{\"carrier\":\"dhl\",\"eta\":\"2026-12-09\"},"
    "\"notes\":\"leave at the door\",\"total\":139.0,\"currency\":\"EUR\"}";

void observe(benchmark::State& state, const std::string& req, const std::string& resp) {
  ringward::SystemClock clock;
  HttpConfig config;
  HttpAnalyzer analyzer(config, clock);
  ExchangeView ex;
  ex.method = "GET";
  ex.target = "/";
  ex.status = 200;
  ex.request = req;
  ex.response = resp;
  ex.latency_ns = 180'000;
  ex.local_port = 80;
  ex.remote_port = 40123;
  uint64_t now = clock.mono_ns();
  for (auto _ : state) {
    auto d = analyzer.observe(ex, now, now);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ObserveNginxJson(benchmark::State& s) { observe(s, kWrkRequest, kNginxResponse); }
void BM_ObserveApiExchange(benchmark::State& s) { observe(s, kApiRequest, kApiResponse); }

}  // namespace

BENCHMARK(BM_ObserveNginxJson);
BENCHMARK(BM_ObserveApiExchange);
BENCHMARK_MAIN();
