// Capture's emitter: ids are unique and monotonic, a full ring queues by priority and drops the
// lowest first (never Critical while a lower one waits), every event is accounted, and a crash
// between the stats snapshot and the ring publication is completed on restart.
#include <sys/mman.h>

#include <set>

#include <gtest/gtest.h>

#include "capture/emitter.h"
#include "capture/synthetic_source.h"
#include "common/event_codec.h"

namespace ringward::capture {
namespace {

struct Shm {
  Shm(size_t n) : size(n), p(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {}
  ~Shm() { munmap(p, size); }
  size_t size;
  void* p;
};

struct Fixture {
  Fixture(uint64_t cap = 1 << 16) : ring(ring_segment_size(cap)), page(stats_page_size()) {
    ring_format(ring.p, ring.size, cap, 1 << 20, "raw");
    stats_page_format(page.p, page.size);
  }
  Shm ring, page;
  ManualClock clock;
};

std::vector<std::pair<uint64_t, schema::Priority>> drain(Fixture& f) {
  RingReader r(f.ring.p, f.ring.size);
  EventDecoder d;
  std::vector<std::pair<uint64_t, schema::Priority>> out;
  while (auto rec = r.next()) {
    auto ev = d.decode(*rec);
    EXPECT_TRUE(ev);
    out.emplace_back(ev->getId(), ev->getPriority());
  }
  r.commit();
  return out;
}

void emit_one(CaptureEmitter& e, schema::Priority p) {
  e.emit(p, [](schema::Event::Builder ev) {
    ev.setMonoNs(1);
    ev.initKind().initProcessExit().setExitCode(0);
  });
}

// Emits NORMAL events until the ring is full and one waits in the queue; returns how many.
int fill_ring(CaptureEmitter& e) {
  int emitted = 0;
  for (; !e.saturated(); ++emitted) emit_one(e, schema::Priority::NORMAL);
  return emitted;
}

TEST(Emitter, IdsAreUniqueMonotonicAndSurviveARestart) {
  Fixture f;
  RingWriter w(f.ring.p, f.ring.size);
  uint64_t last = 0;
  {
    StatsWriter s(f.page.p, f.page.size);
    CaptureEmitter e(w, s, f.clock, "h", 64);
    for (int i = 0; i < 10; ++i) emit_one(e, schema::Priority::NORMAL);
    e.flush();
  }
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  for (int i = 0; i < 10; ++i) emit_one(e, schema::Priority::NORMAL);
  e.flush();
  auto got = drain(f);
  ASSERT_EQ(got.size(), 20u);
  for (auto& [id, p] : got) {
    EXPECT_GT(id, last);
    last = id;
  }
}

// The emitter reuses one message segment: an event must carry nothing of the one before it,
// whether that one was large (an HTTP exchange with payloads) or overflowed the segment.
TEST(Emitter, ReusedSegmentCarriesNothingOverFromThePreviousEvent) {
  Fixture f;
  RingWriter w(f.ring.p, f.ring.size);
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  for (size_t payload : {size_t{1000}, size_t{9000}}) {  // fits the segment; overflows it
    const std::string body(payload, 'b');
    e.emit(schema::Priority::NORMAL, [&](schema::Event::Builder ev) {
      ev.setMonoNs(1);
      ev.setPid(7);
      auto h = ev.initKind().initHttp();
      h.setMethod("GET");
      h.setStatus(503);
      h.setRequest(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(body.data()), body.size()));
    });
    emit_one(e, schema::Priority::NORMAL);
  }
  e.flush();
  RingReader r(f.ring.p, f.ring.size);
  EventDecoder d;
  std::vector<std::string> got;
  while (auto rec = r.next()) {
    auto ev = d.decode(*rec);
    ASSERT_TRUE(ev);
    if (ev->getKind().isHttp()) {
      EXPECT_EQ(ev->getPid(), 7u);
      EXPECT_EQ(ev->getKind().getHttp().getStatus(), 503);
      got.push_back("http" + std::to_string(ev->getKind().getHttp().getRequest().size()));
    } else {
      ASSERT_TRUE(ev->getKind().isProcessExit());
      EXPECT_EQ(ev->getPid(), 0u);
      EXPECT_EQ(ev->getKind().getProcessExit().getExitCode(), 0);
      EXPECT_FALSE(ev->hasComm());
      got.push_back("exit" + std::to_string(rec->size()));
    }
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "http1000");
  EXPECT_EQ(got[2], "http9000");
  EXPECT_EQ(got[1], got[3]);  // the same small event, byte for byte the same size both times
}

TEST(Emitter, FullRingShedsLowestPriorityFirstAndCountsEveryDrop) {
  Fixture f(4096);
  RingWriter w(f.ring.p, f.ring.size);
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 8);
  int emitted = fill_ring(e);
  // Ring full, one NORMAL waits. Fill the queue with LOW, then push CRITICALs.
  for (int i = 0; i < 7; ++i) emit_one(e, schema::Priority::LOW);
  for (int i = 0; i < 8; ++i) emit_one(e, schema::Priority::CRITICAL);
  emitted += 15;
  EXPECT_EQ(e.queued(), 8u);
  // One more LOW while only CRITICAL waits: the LOW itself is dropped.
  emit_one(e, schema::Priority::LOW);
  ++emitted;
  e.flush();
  uint64_t dropped = s.get(s.counter("dropped.capture.overflow"));
  EXPECT_EQ(dropped, 9u);  // 7 LOW and the NORMAL evicted for the CRITICALs, then the last LOW
  auto first = drain(f);
  EXPECT_TRUE(e.drain());
  e.flush();
  auto second = drain(f);
  size_t crit = 0;
  for (auto& [id, p] : second) crit += p == schema::Priority::CRITICAL;
  EXPECT_EQ(crit, 8u);
  EXPECT_EQ(first.size() + second.size() + dropped, static_cast<size_t>(emitted));
  EXPECT_EQ(s.get(s.counter("captured")), static_cast<uint64_t>(emitted));
  uint64_t last = 0;
  for (auto& [id, p] : second) {
    EXPECT_GT(id, last);  // the queue keeps id order
    last = id;
  }
}

// Stopping while the ring stays full: what still waits is counted as captured and dropped, so
// the accounting identity holds after the process is gone.
TEST(Emitter, EventsStillWaitingAtStopAreCountedAsDropped) {
  Fixture f(4096);
  RingWriter w(f.ring.p, f.ring.size);
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  int emitted = fill_ring(e);
  for (int i = 0; i < 4; ++i, ++emitted) emit_one(e, schema::Priority::CRITICAL);
  EXPECT_EQ(e.queued(), 5u);
  EXPECT_EQ(e.drop_queued("shutdown"), 5u);
  EXPECT_EQ(e.queued(), 0u);
  EXPECT_FALSE(e.saturated());
  e.flush();
  EXPECT_EQ(s.get(s.counter("dropped.capture.shutdown")), 5u);
  EXPECT_EQ(s.get(s.counter("captured")), static_cast<uint64_t>(emitted));
  EXPECT_EQ(drain(f).size() + 5, static_cast<size_t>(emitted));
}

// A capture process killed with events in its overflow queue: its successor counts them as
// dropped.capture.crash, so the identity still holds without the dead process's memory.
TEST(Emitter, EventsQueuedByAKilledPredecessorAreCountedOnRestart) {
  Fixture f(4096);
  RingWriter w(f.ring.p, f.ring.size);
  int emitted = 0;
  {
    StatsWriter s(f.page.p, f.page.size);
    CaptureEmitter e(w, s, f.clock, "h", 64);
    emitted = fill_ring(e);
    for (int i = 0; i < 2; ++i, ++emitted) emit_one(e, schema::Priority::HIGH);
    e.flush();
    EXPECT_EQ(e.queued(), 3u);
  }  // gone without draining, as after kill -9
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  e.recover();
  EXPECT_EQ(s.get(s.counter("dropped.capture.crash")), 3u);
  EXPECT_EQ(s.get(s.counter("captured")), static_cast<uint64_t>(emitted));
  EXPECT_EQ(drain(f).size() + 3, static_cast<size_t>(emitted));
  // The restart is announced in band (the ring was full: it waited in the queue): one Critical
  // Lost record carrying what the predecessor took with it.
  ASSERT_TRUE(e.drain());
  e.flush();
  RingReader r(f.ring.p, f.ring.size);
  EventDecoder d;
  auto rec = r.next();
  ASSERT_TRUE(rec);
  auto ev = d.decode(*rec);
  ASSERT_TRUE(ev);
  ASSERT_TRUE(ev->getKind().isLost());
  EXPECT_EQ(ev->getPriority(), schema::Priority::CRITICAL);
  EXPECT_EQ(std::string(ev->getKind().getLost().getStage().cStr()), "capture");
  EXPECT_EQ(std::string(ev->getKind().getLost().getReason().cStr()), "restart");
  EXPECT_EQ(ev->getKind().getLost().getCount(), 3u);
  EXPECT_FALSE(r.next());
  r.commit();
  EXPECT_EQ(s.get(s.counter("captured")), static_cast<uint64_t>(emitted) + 1);
  e.recover();  // counted once, announced once
  EXPECT_EQ(s.get(s.counter("dropped.capture.crash")), 3u);
  EXPECT_EQ(e.queued(), 0u);
  EXPECT_FALSE(r.next());
}

// A source that makes its events again after a restart (synthetic) lost nothing: not counted.
TEST(Emitter, QueuedEventsASourceMakesAgainAreNotCountedAsLost) {
  Fixture f(4096);
  RingWriter w(f.ring.p, f.ring.size);
  uint64_t written = 0;
  {
    StatsWriter s(f.page.p, f.page.size);
    CaptureEmitter e(w, s, f.clock, "h", 64);
    fill_ring(e);
    e.flush();
    written = s.get(s.counter("written"));
  }
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  e.recover(true);
  EXPECT_EQ(s.get(s.counter("dropped.capture.crash")), 0u);
  EXPECT_EQ(s.get(s.counter("captured")), written);
  e.recover(false);  // settled already: nothing left to count
  EXPECT_EQ(s.get(s.counter("dropped.capture.crash")), 0u);
}

// An event larger than the ring's record limit can never be written: it is dropped and counted
// instead of waiting at the head of the overflow queue, where it would block all later events.
TEST(Emitter, EventAboveTheRecordLimitIsDroppedAndCountedWithoutBlockingLaterOnes) {
  Shm ring(ring_segment_size(1 << 16)), page(stats_page_size());
  ring_format(ring.p, ring.size, 1 << 16, 1024, "raw");  // records up to 1 KiB
  stats_page_format(page.p, page.size);
  ManualClock clock;
  RingWriter w(ring.p, ring.size);
  StatsWriter s(page.p, page.size);
  CaptureEmitter e(w, s, clock, "h", 64);
  const std::string big(2000, 'x');
  bool ok = e.emit(schema::Priority::HIGH, [&](schema::Event::Builder ev) {
    ev.setMonoNs(1);
    ev.initKind().initHttp().setRequest(
        capnp::Data::Reader(reinterpret_cast<const kj::byte*>(big.data()), big.size()));
  });
  EXPECT_FALSE(ok);
  for (int i = 0; i < 3; ++i) emit_one(e, schema::Priority::NORMAL);
  e.flush();
  EXPECT_EQ(e.queued(), 0u);
  EXPECT_EQ(s.get(s.counter("dropped.capture.too_large")), 1u);
  EXPECT_EQ(s.get(s.counter("captured")), 4u);  // the dropped one is captured and dropped
  EXPECT_EQ(s.get(s.counter("written")), 3u);
  RingReader r(ring.p, ring.size);
  size_t n = 0;
  while (r.next()) ++n;
  EXPECT_EQ(n, 3u);
}

TEST(Emitter, CrashBetweenSnapshotAndPublicationIsCompleted) {
  Fixture f;
  {
    RingWriter w(f.ring.p, f.ring.size);
    StatsWriter s(f.page.p, f.page.size);
    CaptureEmitter e(w, s, f.clock, "h", 64);
    for (int i = 0; i < 5; ++i) emit_one(e, schema::Priority::NORMAL);
    // Snapshot taken, ring not published: the "crash" happens here.
    s.set(s.counter("ring_pos"), w.pending_position());
    s.publish();
  }
  RingWriter w(f.ring.p, f.ring.size);
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  e.recover();
  auto got = drain(f);
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(s.get(s.counter("written")), 6u);  // the five, and the restart record after them
  e.flush();
  got = drain(f);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, schema::Priority::CRITICAL);
}

TEST(Emitter, KernelLossIsCountedAndAnnouncedInBand) {
  Fixture f;
  RingWriter w(f.ring.p, f.ring.size);
  StatsWriter s(f.page.p, f.page.size);
  CaptureEmitter e(w, s, f.clock, "h", 64);
  e.report_lost("kernel", "ringbuf_full", "file_open", 1, 42);
  e.flush();
  EXPECT_EQ(s.get(s.counter("dropped.kernel.ringbuf_full")), 42u);
  EXPECT_EQ(s.get(s.counter("captured")), 43u);  // the 42 lost + the `lost` record itself
  auto got = drain(f);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, schema::Priority::CRITICAL);
}

TEST(Synthetic, SameSeedAndIndexGiveTheSameEvent) {
  capnp::MallocMessageBuilder a, b;
  SyntheticSource::make_event(7, 12345, 99, a.initRoot<schema::Event>());
  SyntheticSource::make_event(7, 12345, 99, b.initRoot<schema::Event>());
  auto fa = capnp::messageToFlatArray(a), fb = capnp::messageToFlatArray(b);
  ASSERT_EQ(fa.size(), fb.size());
  EXPECT_EQ(0, memcmp(fa.begin(), fb.begin(), fa.size() * 8));
}

}  // namespace
}  // namespace ringward::capture
