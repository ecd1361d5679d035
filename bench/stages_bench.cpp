// ns/event of the processor's hardening stages (no payload scanning) on a realistic event mix:
// validation (decode + every field check), priority, token bucket, load shedder, circuit breaker,
// and the chain of all of them as the processor loop runs it (one clock reading per batch of 64).
// Trust: benchmark only.
#include <benchmark/benchmark.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "processor/stages/circuit_breaker.h"
#include "processor/stages/load_shedder.h"
#include "processor/stages/priority.h"
#include "processor/stages/token_bucket.h"
#include "processor/stages/validator.h"

namespace {

using namespace ringward;
using namespace ringward::processor;

capnp::Data::Reader data(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

// 1000 records: 40 % file opens, 20 % HTTP (200-900 byte payload prefixes, some 4xx/5xx),
// 15 % exec (3-8 args), 10 % connects, 10 % exits, 5 % privilege changes.
std::vector<std::vector<std::byte>> make_mix(const Clock& clock) {
  std::vector<std::vector<std::byte>> out;
  for (int i = 0; i < 1000; ++i) {
    capnp::MallocMessageBuilder m;
    auto ev = m.initRoot<schema::Event>();
    ev.setId(static_cast<uint64_t>(i));
    ev.setMonoNs(clock.mono_ns() - 1000);
    ev.setWallNs(clock.wall_ns() - 1000);
    ev.setHost("web-01.example.internal");
    ev.setPid(1000 + static_cast<uint32_t>(i % 500));
    ev.setTid(1000 + static_cast<uint32_t>(i % 500));
    ev.setPpid(1);
    ev.setUid(33);
    ev.setComm(data("nginx"));
    const int k = i % 20;
    if (k < 8) {
      auto fo = ev.getKind().initFileOpen();
      fo.setPath(data("/var/www/html/static/css/site-" + std::to_string(i) + ".css"));
      fo.setSyscall("openat");
      fo.setResult(k == 0 ? -13 : 7);
    } else if (k < 12) {
      auto h = ev.getKind().initHttp();
      h.setMethod(k == 8 ? "POST" : "GET");
      h.setTarget(data("/api/v1/orders/" + std::to_string(i) + "?expand=items&page=2"));
      h.setStatus(k == 9 ? 503 : (k == 10 ? 401 : 200));
      h.setRequest(data(std::string(200 + (i % 700), 'r')));
      h.setResponse(data(std::string(300, 's')));
      h.setFamily(2);
      h.setLocalAddr(data(std::string("\x0a\0\0\x01", 4)));
      h.setRemoteAddr(data(std::string("\x0a\0\0\x02", 4)));
      h.setRole("server");
    } else if (k < 15) {
      auto e = ev.getKind().initProcessExec();
      e.setFilename(data("/usr/bin/python3"));
      const unsigned n = 3 + static_cast<unsigned>(i % 6);
      auto argv = e.initArgv(n);
      for (unsigned a = 0; a < n; ++a) argv.set(a, data("--arg-" + std::to_string(a)));
      e.setCwd(data("/srv/app"));
    } else if (k < 17) {
      auto n = ev.getKind().initNetConnect();
      n.setFamily(2);
      n.setSrcAddr(data(std::string("\x0a\0\0\x01", 4)));
      n.setDstAddr(data(std::string("\x0a\0\0\x03", 4)));
      n.setDstPort(5432);
    } else if (k < 19) {
      ev.getKind().initProcessExit().setExitCode(0);
    } else {
      auto p = ev.getKind().initPrivilegeChange();
      p.setSyscall("setuid");
      p.setOldUid(33);
      p.setNewUid(33);
    }
    auto words = capnp::messageToFlatArray(m);
    auto bytes = words.asBytes();
    out.emplace_back(bytes.size());
    std::memcpy(out.back().data(), bytes.begin(), bytes.size());
  }
  return out;
}

struct Fixture {
  SystemClock clock;
  std::vector<std::vector<std::byte>> records = make_mix(clock);
};

void BM_Validate(benchmark::State& state) {
  Fixture f;
  Validator validator(ValidationConfig{}, f.clock);
  DecodedRecord rec;
  size_t i = 0;
  const uint64_t mono = f.clock.mono_ns(), wall = f.clock.wall_ns();
  for (auto _ : state) {
    auto r = validator.validate_at(f.records[i], rec, mono, wall);
    benchmark::DoNotOptimize(r);
    if (++i == f.records.size()) i = 0;
  }
  if (validator.counters().invalid != 0) state.SkipWithError("mix did not validate");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Validate);

// The floor under validation: opening the message and reading the union tag, nothing checked.
void BM_DecodeOnly(benchmark::State& state) {
  Fixture f;
  size_t i = 0;
  for (auto _ : state) {
    const auto& r = f.records[i];
    capnp::FlatArrayMessageReader reader(
        kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(r.data()), r.size() / 8));
    benchmark::DoNotOptimize(reader.getRoot<schema::Event>().getKind().which());
    if (++i == f.records.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeOnly);

void BM_Priority(benchmark::State& state) {
  Fixture f;
  std::vector<std::unique_ptr<capnp::FlatArrayMessageReader>> readers;
  for (auto& r : f.records) {
    readers.push_back(std::make_unique<capnp::FlatArrayMessageReader>(kj::ArrayPtr<const capnp::word>(
        reinterpret_cast<const capnp::word*>(r.data()), r.size() / 8)));
  }
  std::vector<schema::Event::Reader> events;
  for (auto& r : readers) events.push_back(r->getRoot<schema::Event>());
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(assign_priority(events[i], schema::Verdict::NONE));
    if (++i == events.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Priority);

void BM_TokenBucket(benchmark::State& state) {
  SystemClock clock;
  TokenBucket bucket({.rate_per_second = 10'000, .burst = 10'000}, clock);
  uint64_t now = clock.mono_ns();
  for (auto _ : state) {
    now += 50;  // 20 M events/s offered against 10 k/s: mostly the reject path
    benchmark::DoNotOptimize(bucket.try_acquire_at(schema::Priority::NORMAL, now));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenBucket);

void BM_LoadShedderAtHigh(benchmark::State& state) {
  SystemClock clock;
  LoadShedder shedder({}, clock);
  shedder.observe_utilization(0.75);
  const schema::Priority mix[8] = {schema::Priority::LOW,    schema::Priority::NORMAL,
                                   schema::Priority::LOW,    schema::Priority::HIGH,
                                   schema::Priority::NORMAL, schema::Priority::LOW,
                                   schema::Priority::CRITICAL, schema::Priority::NORMAL};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(shedder.admit(mix[i++ & 7]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoadShedderAtHigh);

// The chain as the processor loop runs it, per batch of 64 records: one clock reading and one
// ring-utilisation observation per batch, then per record validate -> priority -> breaker ->
// rate limit -> shed.
void BM_Chain(benchmark::State& state) {
  Fixture f;
  Validator validator(ValidationConfig{}, f.clock);
  TokenBucket bucket({.rate_per_second = 1'000'000'000, .burst = 1'000'000}, f.clock);
  LoadShedder shedder({}, f.clock);
  CircuitBreaker breaker({}, f.clock);
  DecodedRecord rec;
  size_t i = 0;
  uint64_t kept = 0;
  uint64_t mono = 0, wall = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    if ((n++ & 63) == 0) {
      mono = f.clock.mono_ns();
      wall = f.clock.wall_ns();
      shedder.observe_utilization_at(0.65, mono);
    }
    const auto& record = f.records[i];
    if (++i == f.records.size()) i = 0;
    const auto r = validator.validate_at(record, rec, mono, wall);
    if (!r.ok()) continue;
    const auto prio = assign_priority(rec.event(), schema::Verdict::NONE);
    if (breaker.allow_at(mono)) breaker.record_success();
    if (!bucket.try_acquire_at(prio, mono)) continue;
    if (!shedder.admit(prio)) continue;
    ++kept;
  }
  benchmark::DoNotOptimize(kept);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Chain);

}  // namespace

BENCHMARK_MAIN();
