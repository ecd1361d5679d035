// DiskBuffer tests on real files: replay, per-sink checkpoints, torn/corrupt recovery, cap with
// Critical reserve. Disk-full and crash tests live in their own files.
#include "shipper/core/disk_buffer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "shipper/core/record.h"
#include "test_util.h"

namespace ringward::shipper {
namespace {

using testing::decoded_id;
using testing::make_event;
using testing::TempDir;

DiskBufferOptions opts_for(const TempDir& d, std::vector<std::string> sinks = {"a", "b"}) {
  DiskBufferOptions o;
  o.dir = d.path() / "buf";
  o.sinks = std::move(sinks);
  o.segment_bytes = 64 << 10;
  o.max_bytes = 64 << 20;
  o.memory_bytes = 1 << 20;
  o.fsync = FsyncPolicy::batch;
  return o;
}

// A 1 MiB cap in 16 segments of 64 KiB: a few thousand 400-byte events fill it.
DiskBufferOptions capped_opts_for(const TempDir& d, std::vector<std::string> sinks) {
  auto o = opts_for(d, std::move(sinks));
  o.max_bytes = 1 << 20;
  o.segment_bytes = 64 << 10;
  return o;
}

std::unique_ptr<DiskBuffer> open_ok(const DiskBufferOptions& o, const Clock& c) {
  io::IoError err;
  auto b = DiskBuffer::open(o, c, err);
  EXPECT_TRUE(err.ok()) << err.what;
  return b;
}

std::vector<uint64_t> drain(DiskBuffer& b, size_t sink, bool ack = true) {
  std::vector<uint64_t> ids;
  std::vector<BufferedEvent> batch;
  while (true) {
    batch.clear();
    if (b.read(sink, 100, 1 << 20, batch) == 0) break;
    for (auto& e : batch) {
      EXPECT_EQ(decoded_id(*e.event), e.event->id);
      ids.push_back(e.event->id);
    }
    if (ack) b.ack(sink, batch.back().seq);
  }
  return ids;
}

std::vector<uint64_t> iota_ids(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

std::vector<std::filesystem::path> segments(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> v;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".rwb") v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(DiskBuffer, ReplaysEverythingUnacknowledgedAfterReopenInOrder) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d);
  {
    auto b = open_ok(o, clock);
    for (uint64_t i = 1; i <= 1000; ++i) ASSERT_TRUE(b->append(make_event(i)).stored);
    b->commit();
    // Sink a takes the first 300 and acknowledges them; sink b nothing.
    std::vector<BufferedEvent> batch;
    ASSERT_EQ(b->read(0, 300, 1 << 30, batch), 300u);
    b->ack(0, batch.back().seq);
  }
  auto b = open_ok(o, clock);
  EXPECT_EQ(drain(*b, 0), iota_ids(301, 1001));
  EXPECT_EQ(drain(*b, 1), iota_ids(1, 1001));
  auto st = b->stats();
  EXPECT_EQ(st.corrupt_records, 0u);
  EXPECT_EQ(st.torn_records, 0u);
}

TEST(DiskBuffer, UnackedHandedOutRecordsComeBackAfterRewindOrReopen) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  auto b = open_ok(o, clock);
  for (uint64_t i = 1; i <= 10; ++i) b->append(make_event(i));
  std::vector<BufferedEvent> batch;
  b->read(0, 5, 1 << 30, batch);
  b->ack(0, batch[2].seq);  // 1..3 done, 4..5 in flight
  b->rewind(0);
  EXPECT_EQ(drain(*b, 0, false), iota_ids(4, 11));
}

TEST(DiskBuffer, CheckpointIsPerSinkAndSegmentsLeaveOnlyWhenEverySinkAcked) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d);
  auto b = open_ok(o, clock);
  for (uint64_t i = 1; i <= 3000; ++i) b->append(make_event(i, schema::Priority::NORMAL, 200));
  b->commit();
  const size_t before = segments(o.dir).size();
  ASSERT_GT(before, 5u);
  EXPECT_EQ(drain(*b, 0).size(), 3000u);
  EXPECT_EQ(segments(o.dir).size(), before) << "sink b still needs every segment";
  auto st = b->stats();
  EXPECT_EQ(st.sinks[0].backlog, 0u);
  EXPECT_EQ(st.sinks[1].backlog, 3000u);
  EXPECT_EQ(drain(*b, 1).size(), 3000u);
  EXPECT_LE(segments(o.dir).size(), 1u) << "only the active segment is left";
  // Checkpoint files exist, one per sink, and reopening replays nothing.
  size_t ckpts = 0;
  for (auto& e : std::filesystem::directory_iterator(o.dir)) ckpts += e.path().extension() == ".ckpt";
  EXPECT_EQ(ckpts, 2u);
  b.reset();
  auto b2 = open_ok(o, clock);
  EXPECT_TRUE(drain(*b2, 0).empty());
  EXPECT_TRUE(drain(*b2, 1).empty());
  // New appends continue after the old sequence numbers (not re-acknowledged by old checkpoints).
  b2->append(make_event(5000));
  EXPECT_EQ(drain(*b2, 0), std::vector<uint64_t>{5000});
}

TEST(DiskBuffer, TornTailIsSkippedCountedAndTruncated) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  {
    auto b = open_ok(o, clock);
    for (uint64_t i = 1; i <= 50; ++i) b->append(make_event(i));
    b->commit();
  }
  auto segs = segments(o.dir);
  ASSERT_FALSE(segs.empty());
  auto last = segs.back();
  auto size = std::filesystem::file_size(last);
  // A crash mid-write: the last record is cut in half.
  std::filesystem::resize_file(last, size - 60);
  auto b = open_ok(o, clock);
  auto st = b->stats();
  EXPECT_EQ(st.torn_records, 1u);
  EXPECT_GT(st.skipped_bytes, 0u);
  EXPECT_NE(st.last_error.find("torn"), std::string::npos);
  EXPECT_EQ(drain(*b, 0), iota_ids(1, 50));
  // Appending after recovery works and the torn bytes are gone for good.
  b->append(make_event(77));
  EXPECT_EQ(drain(*b, 0), std::vector<uint64_t>{77});
  b.reset();
  auto b2 = open_ok(o, clock);
  EXPECT_EQ(b2->stats().torn_records, 0u);
}

TEST(DiskBuffer, FlippedByteInTheMiddleSkipsOneRecordAndResyncs) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  {
    auto b = open_ok(o, clock);
    for (uint64_t i = 1; i <= 20; ++i) b->append(make_event(i));
    b->commit();
  }
  auto seg = segments(o.dir).front();
  const size_t rec = record::framed_size(make_event(1).record.size());
  {
    // Flip a byte inside record #10's payload, and another in record #15's length field.
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(9 * rec + record::kHeaderSize + 20));
    char c;
    f.seekg(static_cast<std::streamoff>(9 * rec + record::kHeaderSize + 20));
    f.get(c);
    f.seekp(static_cast<std::streamoff>(9 * rec + record::kHeaderSize + 20));
    f.put(static_cast<char>(c ^ 0x40));
    f.seekp(static_cast<std::streamoff>(14 * rec + 5));
    f.put(static_cast<char>(0x7f));
  }
  auto b = open_ok(o, clock);
  auto st = b->stats();
  EXPECT_EQ(st.corrupt_records, 2u);
  EXPECT_EQ(st.torn_records, 0u);
  auto ids = drain(*b, 0);
  std::vector<uint64_t> want;
  for (uint64_t i = 1; i <= 20; ++i)
    if (i != 10 && i != 15) want.push_back(i);
  EXPECT_EQ(ids, want);
}

TEST(DiskBuffer, GarbageFilesNeverPreventStart) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  std::filesystem::create_directories(o.dir);
  std::ofstream(o.dir / "seg-00000000000000000001.rwb") << std::string(5000, '\x5a');
  std::ofstream(o.dir / "ack-a-00000000.ckpt") << "junk";
  std::ofstream(o.dir / "ack-a.ckpt.tmp") << "half";
  auto b = open_ok(o, clock);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->stats().torn_records, 1u);
  b->append(make_event(9));
  EXPECT_EQ(drain(*b, 0), std::vector<uint64_t>{9});
}

// `batch`: 1 appends one event at a time, more offers runs of that many to append_batch().
void cap_drops_oldest_non_critical_first(size_t batch) {
  TempDir d;
  ManualClock clock;
  auto o = capped_opts_for(d, {"a"});
  o.critical_reserve = 0.10;
  o.segment_bytes = o.max_bytes / 4;  // the largest allowed: a batch fits in one many times over
  auto b = open_ok(o, clock);
  // Interleave: every 10th event Critical. Write 4x the cap.
  const size_t rec = record::framed_size(make_event(1, schema::Priority::NORMAL, 400).record.size());
  const uint64_t n = 4 * (1 << 20) / rec;
  std::set<uint64_t> critical;
  std::vector<OutEvent> evs;
  for (uint64_t i = 1; i <= n; ++i) {
    auto p = i % 10 == 0 ? schema::Priority::CRITICAL : schema::Priority::NORMAL;
    if (p == schema::Priority::CRITICAL) critical.insert(i);
    evs.push_back(make_event(i, p, 400));
  }
  auto outs = testing::offer(*b, std::move(evs), batch);
  for (size_t i = 0; i < outs.size(); ++i)
    ASSERT_TRUE(outs[i].stored) << i + 1 << ": " << outs[i].error;  // fail-open: always accepted
  auto st = b->stats();
  EXPECT_LE(st.bytes, o.max_bytes);
  EXPECT_GT(st.dropped[kDropBufferFull], 0u);
  EXPECT_EQ(st.dropped[kDropBufferFullCritical], 0u) << "no Critical event dropped";
  EXPECT_GT(st.carried_critical, 0u);
  EXPECT_TRUE(st.full);
  auto ids = drain(*b, 0);
  std::set<uint64_t> got(ids.begin(), ids.end());
  for (uint64_t c : critical) EXPECT_TRUE(got.count(c)) << "critical " << c << " lost";
  // Accounting: every event is either readable or counted as dropped for the sink.
  EXPECT_EQ(got.size() + st.sinks[0].dropped[kDropBufferFull], n);
  // The newest non-critical events survived (oldest dropped first).
  EXPECT_TRUE(got.count(n - 1));
}

TEST(DiskBuffer, CapDropsOldestNonCriticalFirstAndKeepsCriticalReserve) {
  cap_drops_oldest_non_critical_first(1);
}

TEST(DiskBuffer, BatchesAtTheCapDropOldestNonCriticalFirstLikeSingleAppends) {
  cap_drops_oldest_non_critical_first(64);
}

// The shipper appends each batch it reads from the out ring with one write(): the records keep
// their order and consecutive seqs across segment boundaries, mixed with single appends, are
// served from the memory tail, and read back intact after a reopen.
TEST(DiskBuffer, BatchesKeepOrderAcrossSegmentsAndSurviveReopen) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d);  // 64 KiB segments: ~300 of these events each
  {
    auto b = open_ok(o, clock);
    std::vector<OutEvent> evs;
    for (uint64_t i = 1; i <= 1000; ++i) evs.push_back(make_event(i, i % 7 ? schema::Priority::NORMAL : schema::Priority::CRITICAL));
    auto outs = testing::offer(*b, std::move(evs), 97);
    for (size_t i = 0; i < outs.size(); ++i) {
      ASSERT_TRUE(outs[i].stored) << outs[i].error;
      EXPECT_EQ(outs[i].seq, i + 1);
    }
    ASSERT_TRUE(b->append(make_event(1001)).stored);
    auto more = testing::offer(*b, {make_event(1002), make_event(1003)}, 2);
    EXPECT_EQ(more[1].seq, 1003u);
    b->commit();
    EXPECT_EQ(b->stats().appended, 1003u);
    EXPECT_EQ(drain(*b, 0), iota_ids(1, 1004));  // from memory, in order
    EXPECT_GE(b->stats().memory_hits, 1000u);
    const auto segs = segments(o.dir);
    EXPECT_GE(segs.size(), 3u);
    for (const auto& p : segs) EXPECT_LE(std::filesystem::file_size(p), o.segment_bytes) << p;
  }
  auto b = open_ok(o, clock);
  EXPECT_EQ(drain(*b, 1), iota_ids(1, 1004));  // from disk, in order
  auto st = b->stats();
  EXPECT_EQ(st.corrupt_records, 0u);
  EXPECT_EQ(st.torn_records, 0u);
}

// What a reopened buffer still owes each sink is counted record by record: after evictions at
// the cap and Critical records re-written at the tail, the seq range (backlog) overstates it,
// and a restarted pipeline would carry over events that never come (unexplained forever).
TEST(DiskBuffer, PendingAtOpenCountsTheRecordsEachSinkWillRead) {
  TempDir d;
  ManualClock clock;
  auto o = capped_opts_for(d, {"a", "b"});
  o.critical_reserve = 0.10;
  const size_t rec = record::framed_size(make_event(1, schema::Priority::NORMAL, 400).record.size());
  const uint64_t n = 3 * (1 << 20) / rec;
  {
    auto b = open_ok(o, clock);
    for (uint64_t i = 1; i <= n; ++i)
      b->append(make_event(i, i % 10 == 0 ? schema::Priority::CRITICAL : schema::Priority::NORMAL, 400));
    b->append(make_event(n + 1), "b");  // for sink b only
    ASSERT_GT(b->stats().dropped[kDropBufferFull], 0u);
    ASSERT_GT(b->stats().carried_critical, 0u);
  }
  auto b = open_ok(o, clock);
  const auto st = b->stats();
  const uint64_t pending_a = st.sinks[0].pending_at_open, pending_b = st.sinks[1].pending_at_open;
  EXPECT_LT(pending_a, st.sinks[0].backlog) << "the seq range includes evicted and re-written records";
  EXPECT_EQ(drain(*b, 0).size(), pending_a);
  EXPECT_EQ(drain(*b, 1).size(), pending_b);
  EXPECT_EQ(pending_b, pending_a + 1);
}

// Records a sink has in flight (read, not yet acknowledged, e.g. a batch retried against a sink
// that is down) are not evicted at the cap: if the batch never completes (the shipper stops or
// crashes), they are replayed from the buffer, none lost and none delivered twice (a Critical
// record carried to the tail while in a batch was delivered twice; an evicted normal one was lost
// without a count).
TEST(DiskBuffer, InFlightRecordsSurviveTheCapAndAreNotCarriedTwice) {
  TempDir d;
  ManualClock clock;
  auto o = capped_opts_for(d, {"a", "b"});
  std::set<uint64_t> batch_ids, critical;
  {
    auto b = open_ok(o, clock);
    for (uint64_t i = 1; i <= 100; ++i) {
      auto p = i % 10 == 0 ? schema::Priority::CRITICAL : schema::Priority::NORMAL;
      if (p == schema::Priority::CRITICAL) critical.insert(i);
      ASSERT_TRUE(b->append(make_event(i, p, 400)).stored);
    }
    // Sink a takes a batch of all of them (in flight); sink b reads nothing yet.
    std::vector<BufferedEvent> in_flight;
    ASSERT_EQ(b->read(0, 100, 1 << 30, in_flight), 100u);
    for (auto& e : in_flight) batch_ids.insert(e.event->id);
    // Fill past the cap twice over: older segments go, the one holding the batch stays.
    const size_t rec = record::framed_size(make_event(1, schema::Priority::NORMAL, 400).record.size());
    const uint64_t n = 100 + 2 * (1 << 20) / rec;
    for (uint64_t i = 101; i <= n; ++i)
      ASSERT_TRUE(b->append(make_event(i, schema::Priority::NORMAL, 400)).stored);
    EXPECT_GT(b->stats().dropped[kDropBufferFull], 0u) << "the cap was reached";
    // The batch never completes: the shipper stops (destructor) with it unacknowledged.
  }
  auto b = open_ok(o, clock);
  auto replay_a = drain(*b, 0);
  std::set<uint64_t> got_a(replay_a.begin(), replay_a.end());
  EXPECT_EQ(got_a.size(), replay_a.size()) << "a record delivered twice to a";
  for (uint64_t id : batch_ids) EXPECT_TRUE(got_a.count(id)) << "in-flight event " << id << " lost for a";
  auto all_b = drain(*b, 1);
  std::set<uint64_t> got_b(all_b.begin(), all_b.end());
  EXPECT_EQ(all_b.size(), got_b.size()) << "a record delivered twice to b";
  for (uint64_t c : critical) EXPECT_TRUE(got_b.count(c)) << "critical " << c << " lost for b";
}

// A Critical record carried forward at the cap goes only to the sinks that still need it: a sink
// that already acknowledged it does not get the copy (it would deliver it twice).
TEST(DiskBuffer, CarriedCriticalSkipsSinksThatAcknowledgedIt) {
  TempDir d;
  ManualClock clock;
  auto o = capped_opts_for(d, {"a", "b"});
  auto b = open_ok(o, clock);
  std::set<uint64_t> critical;
  for (uint64_t i = 1; i <= 100; ++i) {
    auto p = i % 10 == 0 ? schema::Priority::CRITICAL : schema::Priority::NORMAL;
    if (p == schema::Priority::CRITICAL) critical.insert(i);
    ASSERT_TRUE(b->append(make_event(i, p, 400)).stored);
  }
  auto first_a = drain(*b, 0);  // sink a delivers and acknowledges all 100; b is behind
  ASSERT_EQ(first_a.size(), 100u);
  const size_t rec = record::framed_size(make_event(1, schema::Priority::NORMAL, 400).record.size());
  const uint64_t n = 100 + 2 * (1 << 20) / rec;
  for (uint64_t i = 101; i <= n; ++i)
    ASSERT_TRUE(b->append(make_event(i, schema::Priority::NORMAL, 400)).stored);
  ASSERT_GT(b->stats().carried_critical, 0u);
  for (uint64_t id : drain(*b, 0))
    EXPECT_FALSE(critical.count(id)) << "critical " << id << " delivered to a again";
  auto all_b = drain(*b, 1);
  std::set<uint64_t> got_b(all_b.begin(), all_b.end());
  for (uint64_t c : critical) EXPECT_TRUE(got_b.count(c)) << "critical " << c << " lost for b";
  EXPECT_EQ(all_b.size(), got_b.size());
}

TEST(DiskBuffer, CriticalOnlyFloodDropsOldestCriticalCounted) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  o.max_bytes = 512 << 10;
  auto b = open_ok(o, clock);
  const uint64_t n = 3000;
  for (uint64_t i = 1; i <= n; ++i)
    ASSERT_TRUE(b->append(make_event(i, schema::Priority::CRITICAL, 400)).stored);
  auto st = b->stats();
  EXPECT_LE(st.bytes, o.max_bytes);
  auto ids = drain(*b, 0);
  EXPECT_EQ(ids.size() + st.sinks[0].dropped[kDropBufferFullCritical], n);
  EXPECT_EQ(ids.back(), n);
  // Non-critical newcomers are refused (counted) rather than evicting Critical events.
  auto r = b->append(make_event(n + 1, schema::Priority::LOW, 400));
  auto st2 = b->stats();
  if (!r.stored) {
    EXPECT_EQ(st2.sinks[0].dropped[kDropBufferFull], 1u);
  }
}

TEST(DiskBuffer, RecordsForOneSinkAreInvisibleToOthers) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d);
  auto b = open_ok(o, clock);
  b->append(make_event(1));
  b->append(make_event(2), "b");
  b->append(make_event(3));
  EXPECT_EQ(drain(*b, 0), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(drain(*b, 1), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(DiskBuffer, MemoryTailServesSinksThatKeepUp) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  auto b = open_ok(o, clock);
  for (uint64_t i = 1; i <= 100; ++i) b->append(make_event(i));
  EXPECT_EQ(drain(*b, 0).size(), 100u);
  auto st = b->stats();
  EXPECT_GE(st.memory_hits, 99u);
  EXPECT_LE(st.disk_reads, 1u);
}

TEST(DiskBuffer, PayloadIsTheUnchangedCapnpMessage) {
  TempDir d;
  ManualClock clock;
  auto o = opts_for(d, {"a"});
  auto ev = make_event(42, schema::Priority::HIGH);
  {
    auto b = open_ok(o, clock);
    b->append(ev);
  }
  std::ifstream f(segments(o.dir).front(), std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  ASSERT_GE(all.size(), record::kHeaderSize + ev.record.size());
  EXPECT_EQ(all.substr(record::kHeaderSize, ev.record.size()), ev.record);
}

}  // namespace
}  // namespace ringward::shipper

namespace ringward::shipper {
namespace {

TEST(DiskBuffer, LifetimeCountersTravelWithTheCheckpoint) {
  testing::TempDir d;
  ManualClock clock;
  DiskBufferOptions o;
  o.dir = d.path() / "buf";
  o.sinks = {"a"};
  o.fsync = FsyncPolicy::interval;
  {
    io::IoError err;
    auto b = DiskBuffer::open(o, clock, err);
    for (uint64_t i = 1; i <= 10; ++i) b->append(testing::make_event(i));
    b->append(testing::make_event((1ull << 63) | 5));
    std::vector<BufferedEvent> got;
    b->read(0, 6, 1 << 20, got);
    AckCounts c;
    c.delivered = 5;
    c.dead_lettered = 1;
    c.dropped["dlq_write_failed"] = 0;
    b->ack(0, got.back().seq, c);
    b->tick();  // interval not elapsed: nothing persisted yet
    got.clear();
    b->read(0, 2, 1 << 20, got);
    b->ack(0, got.back().seq, AckCounts{2, 0, 1, {}});
    // Destruction persists (clean stop).
  }
  io::IoError err;
  auto b = DiskBuffer::open(o, clock, err);
  auto st = b->stats();
  EXPECT_EQ(st.sinks[0].acked_seq, 8u);
  EXPECT_EQ(st.sinks[0].delivered, 7u);
  EXPECT_EQ(st.sinks[0].dead_lettered, 1u);
  EXPECT_EQ(st.sinks[0].duplicates, 1u);
  EXPECT_EQ(b->max_event_id(0), 10u);
  EXPECT_EQ(b->max_event_id(1), (1ull << 63) | 5);
}

}  // namespace
}  // namespace ringward::shipper
