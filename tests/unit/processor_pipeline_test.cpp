// The processor's pipeline over real rings in memory: it reads the clock once per batch, and a
// record stamped after that reading (a slow batch) is judged again against the clock now instead
// of being called a bad timestamp; re-written events of every size arrive intact.
#include <sys/mman.h>

#include <capnp/message.h>
#include <gtest/gtest.h>

#include "common/event_codec.h"
#include "common/ring.h"
#include "common/stats.h"
#include "processor/pipeline.h"

namespace ringward::processor {
namespace {

struct Shm {
  explicit Shm(size_t n)
      : size(n), p(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {}
  ~Shm() { munmap(p, size); }
  size_t size;
  void* p;
};

// The raw and out rings (`cap` bytes each) and the stats page, in memory, with both ends of each
// ring: the test writes as capture and reads as the shipper.
struct Rings {
  explicit Rings(uint64_t cap)
      : raw(ring_segment_size(cap)), out(ring_segment_size(cap)), page(stats_page_size()),
        formatted((ring_format(raw.p, raw.size, cap, 1 << 20, "raw"),
                   ring_format(out.p, out.size, cap, 1 << 20, "out"),
                   stats_page_format(page.p, page.size), true)),
        capture(raw.p, raw.size), in(raw.p, raw.size), to_shipper(out.p, out.size),
        shipper(out.p, out.size), stats(page.p, page.size) {}
  Shm raw, out, page;
  bool formatted;
  RingWriter capture;
  RingReader in;
  RingWriter to_shipper;
  RingReader shipper;
  StatsWriter stats;
};

// A clock that, once armed, moves on by `step` after every reading (mono and wall counted
// apart): a batch's reading is then older than a later one, as when a batch takes long.
class TickingClock final : public Clock {
 public:
  TickingClock(uint64_t mono, uint64_t wall) : mono_(mono), wall_(wall) {}
  uint64_t mono_ns() const override { return mono_.fetch_add(step_); }
  uint64_t wall_ns() const override { return wall_.fetch_add(step_); }
  void arm(uint64_t step) { step_ = step; }

 private:
  mutable std::atomic<uint64_t> mono_, wall_;
  std::atomic<uint64_t> step_{0};
};

TEST(ProcessorPipeline, RecordNewerThanTheBatchClockIsJudgedAgainstTheClockNow) {
  Rings r(1 << 16);

  ProcessorConfig cfg;
  cfg.sandbox = false;
  cfg.clock_skew_ms = 1000;
  const uint64_t t0_mono = 10'000'000'000'000ULL, t0_wall = 1'700'000'000'000'000'000ULL;
  TickingClock clock(t0_mono, t0_wall);
  Pipeline pipeline(cfg, r.in, r.to_shipper, r.stats, clock);

  // Armed with 1 s per reading, process_batch reads mono twice (shedder, batch) and wall once
  // before judging: the batch sees mono t0+1 s and wall t0. A record stamped 2.5 s / 1.5 s past
  // t0 is then 1.5 s in the future (skew 1 s); the clock read again (t0+2 s, t0+1 s) accepts it.
  constexpr uint64_t kS = 1'000'000'000ULL;
  const uint64_t now_mono = t0_mono, now_wall = t0_wall;
  clock.arm(kS);
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  ev.setId(7);
  ev.setMonoNs(now_mono + 2 * kS + kS / 2);
  ev.setWallNs(now_wall + kS + kS / 2);
  ev.setHost("h");
  ev.setPid(100);
  ev.setTid(100);
  const char comm[] = "worker";
  ev.setComm(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(comm), 6));
  ev.initKind().initProcessExit().setExitCode(0);
  ASSERT_TRUE(write_message(r.capture, msg));
  r.capture.publish();

  ASSERT_EQ(pipeline.process_batch(256), 1u);
  EventDecoder dec;
  auto rec = r.shipper.next();
  ASSERT_TRUE(rec) << "the record was not forwarded";
  auto got = dec.decode(*rec);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->getId(), 7u);
  EXPECT_EQ(r.stats.get(r.stats.counter("events_invalid")), 0u);
  EXPECT_EQ(r.stats.get(r.stats.counter("dropped.processor.invalid_bad_timestamp")), 0u);

  // A record really from the future is still refused, judged against the fresh reading too.
  ev.setId(8);
  ev.setMonoNs(clock.mono_ns() + 3'600'000'000'000ULL);
  ASSERT_TRUE(write_message(r.capture, msg));
  r.capture.publish();
  ASSERT_EQ(pipeline.process_batch(256), 1u);
  EXPECT_EQ(r.stats.get(r.stats.counter("dropped.processor.invalid_bad_timestamp")), 1u);
}

// Every enriched event is re-written (verdict, priority) into a builder whose first segment is
// reused from event to event; one too large for it gets a segment of its own. Either way each
// event reaches the shipper whole, with nothing of the event before it.
TEST(ProcessorPipeline, RewrittenEventsOfEverySizeArriveIntact) {
  Rings r(1 << 20);
  ProcessorConfig cfg;
  cfg.sandbox = false;
  ManualClock clock(10'000'000'000'000ULL);
  Pipeline pipeline(cfg, r.in, r.to_shipper, r.stats, clock);

  // argv sizes: small, 3 x 20 KiB (past the reused 32 KiB segment), small again, none.
  const std::vector<std::vector<size_t>> argvs = {{4, 6}, {20480, 20480, 20480}, {9}, {}};
  for (uint64_t i = 0; i < argvs.size(); ++i) {
    capnp::MallocMessageBuilder msg;
    auto ev = msg.initRoot<schema::Event>();
    ev.setId(100 + i);
    ev.setMonoNs(clock.mono_ns());
    ev.setWallNs(clock.wall_ns());
    ev.setHost("h");
    ev.setPid(static_cast<uint32_t>(200 + i));
    ev.setTid(static_cast<uint32_t>(200 + i));
    ev.setUid(static_cast<uint32_t>(i == 1 ? 0 : 1000 + i));
    const char comm[] = "worker";
    ev.setComm(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(comm), 6));
    auto ex = ev.initKind().initProcessExec();
    const std::string file = "/usr/bin/tool" + std::to_string(i);
    ex.setFilename(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(file.data()), file.size()));
    auto list = ex.initArgv(static_cast<unsigned>(argvs[i].size()));
    for (unsigned a = 0; a < argvs[i].size(); ++a) {
      const std::string arg(argvs[i][a], static_cast<char>('a' + a));
      list.set(a, capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(arg.data()), arg.size()));
    }
    ASSERT_TRUE(write_message(r.capture, msg));
  }
  r.capture.publish();
  ASSERT_EQ(pipeline.process_batch(256), argvs.size());

  EventDecoder dec(1 << 20);
  for (uint64_t i = 0; i < argvs.size(); ++i) {
    auto rec = r.shipper.next();
    ASSERT_TRUE(rec) << "event " << i << " was not forwarded";
    auto got = dec.decode(*rec);
    ASSERT_TRUE(got) << "event " << i;
    EXPECT_EQ(got->getId(), 100 + i);
    EXPECT_EQ(got->getUid(), i == 1 ? 0u : 1000 + i);
    EXPECT_NE(got->getVerdict(), schema::Verdict::NONE) << "event " << i << " was not re-written";
    ASSERT_TRUE(got->getKind().isProcessExec());
    auto ex = got->getKind().getProcessExec();
    const std::string file = "/usr/bin/tool" + std::to_string(i);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ex.getFilename().begin()), ex.getFilename().size()), file);
    ASSERT_EQ(ex.getArgv().size(), argvs[i].size()) << "event " << i;
    for (unsigned a = 0; a < argvs[i].size(); ++a)
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(ex.getArgv()[a].begin()), ex.getArgv()[a].size()),
                std::string(argvs[i][a], static_cast<char>('a' + a)));
  }
  EXPECT_EQ(r.stats.get(r.stats.counter("events_invalid")), 0u);
}

}  // namespace
}  // namespace ringward::processor
