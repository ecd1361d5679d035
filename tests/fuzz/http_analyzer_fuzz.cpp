// libFuzzer target: the whole HttpAnalyzer (parse, pair, route, classify, metrics, health,
// exposition) on arbitrary request/response buffers, with small bounds so overflow paths run.
// Build (from the repo root; the Cap'n Proto header is generated first):
//   mkdir -p /tmp/capnp-gen && capnp compile -oc++:/tmp/capnp-gen --src-prefix=schemas schemas/event.capnp
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/tmp/capnp-gen
//     tests/fuzz/http_analyzer_fuzz.cpp processor/http/*.cpp /tmp/capnp-gen/event.capnp.c++
//     -lcapnp -lkj -o http_analyzer_fuzz
//   ./http_analyzer_fuzz tests/fuzz/corpus/http_analyzer -max_total_time=20
// Input layout: 2-byte split offset, then request bytes and response bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "processor/http/analyzer.h"

namespace {

struct State {
  State() {
    config.series.max_series = 16;
    config.series.overflow_reserve = 4;
    config.route.cardinality_limit = 4;
    config.route.max_services = 4;
    config.route.max_prefixes_per_service = 8;
    config.health.max_endpoints = 8;
    analyzer = std::make_unique<ringward::http::HttpAnalyzer>(config, clock);
  }
  ringward::ManualClock clock;
  ringward::http::HttpConfig config;
  std::unique_ptr<ringward::http::HttpAnalyzer> analyzer;
  uint64_t inputs = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static State st;  // kept across inputs so tables fill up and the bounds are exercised
  if (size < 2) return 0;
  const size_t split = std::min<size_t>((data[0] << 8 | data[1]), size - 2);
  const std::string_view all(reinterpret_cast<const char*>(data) + 2, size - 2);
  ringward::http::ExchangeView ex;
  ex.request = all.substr(0, split);
  ex.response = all.substr(split);
  ex.method = "GET";
  ex.target = "/fallback/1";
  ex.status = static_cast<uint16_t>(size * 7);
  ex.latency_ns = size * 1'000'003ULL;
  ex.local_port = static_cast<uint16_t>(size);
  st.analyzer->observe(ex, st.clock.mono_ns() - (size % 3) * 1'000'000'000ULL);
  st.clock.advance_ms(size % 50'000);
  if (st.analyzer->live_series() > 16 + 4 + 6 + 16) abort();
  if (++st.inputs % 64 == 0) {
    std::string prom;
    st.analyzer->render_prometheus(prom);
    (void)st.analyzer->health_json();
    (void)st.analyzer->due_reports();
  }
  return 0;
}
