// Shipper core benchmark: disk buffer append events/s (per fsync policy), replay events/s after a
// restart (1 M events by default), memory-tail reads, and the delivery engine through a FileSink.
// Prints one line per figure. Usage: shipper_bench [events] [payload bytes] [dir]
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "shipper/core/delivery.h"
#include "shipper/core/disk_buffer.h"
#include "shipper/core/file_sink.h"

using namespace ringward;
using namespace ringward::shipper;

namespace {

OutEvent make(uint64_t id, size_t payload) {
  capnp::MallocMessageBuilder mb;
  auto e = mb.initRoot<schema::Event>();
  e.setId(id);
  e.setWallNs(1'700'000'000'000'000'000ULL + id);
  e.setHost("bench-host");
  e.setPriority(id % 50 ? schema::Priority::NORMAL : schema::Priority::CRITICAL);
  std::string path(payload, 'x');
  e.getKind().initFileOpen().setPath(
      kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(path.data()), path.size()));
  auto words = capnp::messageToFlatArray(mb);
  OutEvent ev;
  ev.id = id;
  ev.priority = e.getPriority();
  ev.wall_ns = e.getWallNs();
  ev.record.assign(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
  return ev;
}

double secs(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::stoull(argv[1]) : 1'000'000;
  const size_t payload = argc > 2 ? std::stoul(argv[2]) : 200;
  const std::filesystem::path dir =
      argc > 3 ? argv[3] : std::filesystem::temp_directory_path() / "ringward-shipper-bench";
  std::filesystem::remove_all(dir);
  SystemClock clock;
  const OutEvent sample = make(1, payload);
  std::printf("events=%llu record_bytes=%zu\n", static_cast<unsigned long long>(n), sample.record.size());

  // The shipper's own path: append_batch() of each ring batch (512 records), then commit().
  struct Variant {
    FsyncPolicy pol;
    bool batched;
  };
  for (auto [pol, batched] : {Variant{FsyncPolicy::interval, false}, Variant{FsyncPolicy::batch, false},
                              Variant{FsyncPolicy::interval, true}, Variant{FsyncPolicy::batch, true}}) {
    DiskBufferOptions o;
    o.dir = dir / (std::string(to_string(pol)) + (batched ? "-batched" : ""));
    o.sinks = {"a"};
    o.max_bytes = 8ull << 30;
    o.memory_bytes = 64 << 20;
    o.fsync = pol;
    io::IoError err;
    const uint64_t m = pol == FsyncPolicy::interval ? n : std::min<uint64_t>(n, 200'000);
    {
      auto b = DiskBuffer::open(o, clock, err);
      if (!b) return std::fprintf(stderr, "%s\n", err.what.c_str()), 1;
      std::vector<OutEvent> ring_batch;
      auto t0 = std::chrono::steady_clock::now();
      for (uint64_t i = 1; i <= m; ++i) {
        OutEvent ev = sample;
        ev.id = i;
        if (batched) {
          ring_batch.push_back(std::move(ev));
          if (i % 512 == 0 || i == m) b->append_batch(std::move(ring_batch));
        } else {
          b->append(ev);
        }
        if (i % 512 == 0) b->commit();  // one ring batch
      }
      b->commit();
      double s = secs(t0);
      std::printf("append%s fsync=%s: %llu events in %.2f s = %.0f events/s (%.0f MB/s)\n",
                  batched ? "_batch(512)" : "", to_string(pol), static_cast<unsigned long long>(m), s, m / s,
                  m * static_cast<double>(sample.record.size() + 48) / s / 1e6);
      // Memory-tail reads (a sink keeping up): the last ~64 MiB are in memory.
    }
    if (pol != FsyncPolicy::interval || batched) continue;
    auto t0 = std::chrono::steady_clock::now();
    auto b = DiskBuffer::open(o, clock, err);
    double open_s = secs(t0);
    t0 = std::chrono::steady_clock::now();
    std::vector<BufferedEvent> batch;
    uint64_t got = 0;
    while (true) {
      batch.clear();
      if (b->read(0, 1000, 8 << 20, batch) == 0) break;
      got += batch.size();
      b->ack(0, batch.back().seq);
    }
    double s = secs(t0);
    std::printf("replay after restart: open (scan) %.2f s, read+ack %llu events in %.2f s = %.0f events/s\n",
                open_s, static_cast<unsigned long long>(got), s, got / s);
  }

  // Delivery engine end to end into the NDJSON file sink (decode + JSON + write + fdatasync).
  {
    DiskBufferOptions o;
    o.dir = dir / "engine";
    o.sinks = {"file"};
    o.max_bytes = 8ull << 30;
    io::IoError err;
    auto b = DiskBuffer::open(o, clock, err);
    auto sink = FileSink::open({dir / "out.ndjson", 1ull << 30, 2, true}, err);
    CondvarWaiter waiter;
    SinkWorkerOptions wo;
    wo.batch_size = 1000;
    wo.flush_interval = std::chrono::milliseconds(10);
    SinkWorker w(wo, *sink, *b, "file", nullptr, clock, waiter);
    const uint64_t m = std::min<uint64_t>(n, 300'000);
    w.start();
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 1; i <= m; ++i) {
      OutEvent ev = sample;
      ev.id = i;
      b->append(ev);
    }
    while (w.stats().delivered < m) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    double s = secs(t0);
    w.stop();
    std::printf("engine -> file sink (buffered, NDJSON): %llu events in %.2f s = %.0f events/s\n",
                static_cast<unsigned long long>(m), s, m / s);
  }
  std::printf("max RSS %ld MiB\n", rss_mb());
  std::filesystem::remove_all(dir);
  return 0;
}
