// Ring throughput across two processes (producer in a forked child, consumer here) for 64-byte
// and 512-byte records, with a memcpy baseline measured in the same run. Reported as records/s
// and bytes/s; BENCHMARKS.md records the ratio to memcpy.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/ring.h"
#include "common/shm.h"

namespace ringward {
namespace {

constexpr uint64_t kCapacity = 4 << 20;

void BM_RingTwoProcess(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  const uint64_t records = 2'000'000;
  std::string name = "/ringward-bench-" + std::to_string(getpid());
  for (auto _ : state) {
    state.PauseTiming();
    auto seg = ShmSegment::create(name, ring_segment_size(kCapacity), 0600);
    ring_format(seg.data(), seg.size(), kCapacity, 1 << 20, "bench");
    state.ResumeTiming();
    pid_t pid = fork();
    if (pid == 0) {
      auto s = ShmSegment::open(name);
      RingWriter w(s.data(), s.size());
      std::vector<uint8_t> p(len, 7);
      for (uint64_t i = 0; i < records; ++i) {
        while (!w.try_write(p)) {
          w.publish();
          w.wait_for_space(len, 1'000'000);
        }
        if ((i & 63) == 63) w.publish();  // batched publication
      }
      w.publish();
      _exit(0);
    }
    RingReader r(seg.data(), seg.size());
    uint64_t got = 0, sum = 0;
    while (got < records) {
      auto rec = r.next();
      if (!rec) {
        r.commit();
        r.wait(1'000'000);
        continue;
      }
      sum += (*rec)[0];
      if ((++got & 63) == 0) r.commit();
    }
    r.commit();
    benchmark::DoNotOptimize(sum);
    waitpid(pid, nullptr, 0);
    state.PauseTiming();
    ShmSegment::remove(name);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * records * len));
}
BENCHMARK(BM_RingTwoProcess)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MemcpyBaseline(benchmark::State& state) {
  std::vector<char> src(1 << 20, 1), dst(1 << 20);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * src.size()));
}
BENCHMARK(BM_MemcpyBaseline);

}  // namespace
}  // namespace ringward

BENCHMARK_MAIN();
