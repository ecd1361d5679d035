// DeadLetterQueue (list / replay / purge / cap / corrupt entries) and compression helper tests.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <fstream>

#include "shipper/core/compression.h"
#include "shipper/core/dead_letter_queue.h"
#include "shipper/core/disk_buffer.h"
#include "test_util.h"

namespace ringward::shipper {
namespace {

using testing::decoded_id;
using testing::make_event;
using testing::TempDir;

std::unique_ptr<DeadLetterQueue> open_dlq(const TempDir& d, const Clock& c, uint64_t cap = 1 << 20) {
  io::IoError err;
  auto q = DeadLetterQueue::open(d.path() / "dlq", cap, c, err);
  EXPECT_TRUE(err.ok()) << err.what;
  return q;
}

TEST(DeadLetterQueue, ListShowsSinkStatusReasonTimeAndSurvivesReopen) {
  TempDir d;
  ManualClock clock;
  {
    auto q = open_dlq(d, clock);
    ASSERT_TRUE(q->put("splunk", 400, "invalid field", make_event(1, schema::Priority::HIGH)));
    clock.advance_ms(5);
    ASSERT_TRUE(q->put("otlp", 413, "too large", make_event(2)));
  }
  auto q = open_dlq(d, clock);
  auto all = q->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].sink, "splunk");
  EXPECT_EQ(all[0].status, 400);
  EXPECT_EQ(all[0].reason, "invalid field");
  EXPECT_EQ(all[0].event_id, 1u);
  EXPECT_EQ(all[0].priority, schema::Priority::HIGH);
  EXPECT_EQ(all[0].dead_wall_ns, ManualClock().wall_ns());
  EXPECT_EQ(all[1].sink, "otlp");
  EXPECT_EQ(q->list({.sink = "otlp", .key = {}}).size(), 1u);
  EXPECT_EQ(q->stats().entries, 2u);
}

TEST(DeadLetterQueue, ReplayRequeuesIntoTheBufferForThatSinkOnly) {
  TempDir d;
  ManualClock clock;
  auto q = open_dlq(d, clock);
  q->put("a", 400, "x", make_event(10));
  q->put("b", 400, "y", make_event(11));
  DiskBufferOptions o;
  o.dir = d.path() / "buf";
  o.sinks = {"a", "b"};
  io::IoError err;
  auto buf = DiskBuffer::open(o, clock, err);
  ASSERT_TRUE(err.ok());
  size_t n = q->replay({.sink = "a", .key = {}}, [&](const std::string& sink, const OutEvent& ev) {
    EXPECT_EQ(decoded_id(ev), ev.id);
    return buf->append(ev, sink).stored;
  });
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(q->list().size(), 1u);
  std::vector<BufferedEvent> got;
  buf->read(0, 10, 1 << 20, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event->id, 10u);
  got.clear();
  EXPECT_EQ(buf->read(1, 10, 1 << 20, got), 0u) << "sink b does not get a's replay";
  // A failed requeue keeps the entry.
  EXPECT_EQ(q->replay({}, [](auto&, auto&) { return false; }), 0u);
  EXPECT_EQ(q->list().size(), 1u);
}

TEST(DeadLetterQueue, PurgeBySinkKeyOrAllIncludingCorruptEntries) {
  TempDir d;
  ManualClock clock;
  auto q = open_dlq(d, clock);
  for (uint64_t i = 0; i < 4; ++i) q->put(i % 2 ? "a" : "b", 400, "r", make_event(i));
  std::ofstream(d.path() / "dlq" / "dlq-00000000000000000001-00000000.rwd") << "garbage";
  q.reset();
  q = open_dlq(d, clock);
  auto all = q->list();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_TRUE(all[0].corrupt);
  EXPECT_EQ(q->purge({.sink = "a", .key = {}}), 2u);
  EXPECT_EQ(q->purge({.sink = {}, .key = q->list().back().key}), 1u);
  EXPECT_EQ(q->purge({}), 2u);
  EXPECT_TRUE(q->list().empty());
  EXPECT_EQ(q->stats().bytes, 0u);
}

TEST(DeadLetterQueue, SizeCapEvictsOldestCounted) {
  TempDir d;
  ManualClock clock;
  auto q = open_dlq(d, clock, 4096);
  for (uint64_t i = 0; i < 50; ++i) {
    clock.advance_ms(1);
    ASSERT_TRUE(q->put("a", 400, "r", make_event(i)));
  }
  auto st = q->stats();
  EXPECT_LE(st.bytes, 4096u);
  EXPECT_GT(st.evicted, 0u);
  EXPECT_EQ(st.evicted + st.entries, 50u);
  EXPECT_EQ(q->list().back().event_id, 49u) << "newest kept";
}

TEST(Compression, GzipAndZstdRoundTripProperty) {
  EXPECT_TRUE(rc::check("gzip/zstd round trip", [](const std::string& s) {
    auto g = gzip_compress(s);
    RC_ASSERT(g.ok);
    RC_ASSERT(static_cast<unsigned char>(g.data[0]) == 0x1f);  // gzip magic, for HTTP gzip
    auto gd = gzip_decompress(g.data);
    RC_ASSERT(gd.ok);
    RC_ASSERT(gd.data == s);
    auto z = zstd_compress(s);
    RC_ASSERT(z.ok);
    auto zd = zstd_decompress(z.data);
    RC_ASSERT(zd.ok);
    RC_ASSERT(zd.data == s);
  }));
}

TEST(Compression, CorruptAndOversizedInputsAreErrorsNotCrashes) {
  std::string big(1 << 20, 'a');
  auto g = gzip_compress(big);
  EXPECT_LT(g.data.size(), 10000u);
  EXPECT_FALSE(gzip_decompress(g.data, 1000).ok) << "bomb bounded";
  EXPECT_FALSE(gzip_decompress(g.data.substr(0, g.data.size() / 2)).ok);
  EXPECT_FALSE(gzip_decompress("not gzip at all").ok);
  auto z = zstd_compress(big);
  EXPECT_FALSE(zstd_decompress(z.data, 1000).ok);
  EXPECT_FALSE(zstd_decompress(z.data.substr(0, z.data.size() / 2)).ok);
  EXPECT_FALSE(zstd_decompress("nope").ok);
  EXPECT_EQ(parse_compression("zstd"), Compression::zstd);
  EXPECT_FALSE(parse_compression("lz4"));
}

}  // namespace
}  // namespace ringward::shipper
