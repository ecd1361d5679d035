// Ring unit tests: geometry, wrap-around, full/empty, every record size, hostile positions and
// lengths, a producer killed mid-record, and a two-process transfer over a real shm segment.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/ring.h"
#include "common/shm.h"

namespace ringward {
namespace {

class Mem {
 public:
  explicit Mem(uint64_t capacity, uint64_t max_record = 1 << 20)
      : size_(ring_segment_size(capacity)),
        p_(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    ring_format(p_, size_, capacity, max_record, "test");
  }
  ~Mem() { munmap(p_, size_); }
  void* data() { return p_; }
  size_t size() const { return size_; }
  RingHeader* hdr() { return static_cast<RingHeader*>(p_); }
  uint8_t* bytes() { return static_cast<uint8_t*>(p_) + sizeof(RingHeader); }

 private:
  size_t size_;
  void* p_;
};

std::vector<uint8_t> payload(uint32_t len, uint32_t seed) {
  std::vector<uint8_t> v(len);
  for (uint32_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed * 31 + i);
  return v;
}

TEST(Ring, RejectsBadGeometry) {
  std::vector<uint8_t> buf(ring_segment_size(8192));
  EXPECT_THROW(ring_format(buf.data(), buf.size(), 5000, 100, "x"), std::invalid_argument);
  std::memset(buf.data(), 0, buf.size());
  EXPECT_THROW(ring_attach(buf.data(), buf.size()), std::runtime_error);
}

TEST(Ring, EmptyReadsNothing) {
  Mem m(4096);
  RingReader r(m.data(), m.size());
  EXPECT_FALSE(r.next().has_value());
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.wait(1'000'000));
}

TEST(Ring, UnpublishedRecordsAreInvisible) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  RingReader r(m.data(), m.size());
  auto p = payload(100, 1);
  ASSERT_TRUE(w.try_write(p));
  EXPECT_FALSE(r.next().has_value());
  w.publish();
  auto rec = r.next();
  ASSERT_TRUE(rec);
  EXPECT_EQ(std::vector<uint8_t>(rec->begin(), rec->end()), p);
}

TEST(Ring, EverySizeUpToTheMaximumRoundTrips) {
  Mem m(1 << 16, 1 << 20);
  RingWriter w(m.data(), m.size());
  RingReader r(m.data(), m.size());
  uint32_t max = static_cast<uint32_t>(w.max_record());
  EXPECT_EQ(max, (1u << 16) / 4 - 8);
  for (uint32_t len = 0; len <= max; len += (len < 200 ? 1 : 97)) {
    auto p = payload(len, len);
    ASSERT_TRUE(w.try_write(p)) << len;
    w.publish();
    auto rec = r.next();
    ASSERT_TRUE(rec) << len;
    ASSERT_EQ(rec->size(), len);
    if (len > 0) {  // an empty span's data() may be null
      ASSERT_EQ(0, std::memcmp(rec->data(), p.data(), len)) << len;
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(rec->data()) % 8, 0u);
    r.commit();
  }
  auto big = payload(max + 1, 0);
  EXPECT_FALSE(w.try_write(big));
  EXPECT_EQ(r.faults().bad_header, 0u);
}

TEST(Ring, FullRingRefusesUntilTheConsumerCommits) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  RingReader r(m.data(), m.size());
  auto p = payload(120, 3);  // 128 bytes per record
  int n = 0;
  while (w.try_write(p)) ++n;
  EXPECT_EQ(n, 4096 / 128);
  w.publish();
  EXPECT_DOUBLE_EQ(w.utilization(), 1.0);
  // Reading without committing frees nothing.
  ASSERT_TRUE(r.next());
  EXPECT_FALSE(w.try_write(p));
  r.commit();
  EXPECT_TRUE(w.try_write(p));
}

TEST(Ring, WrapsAroundWithPaddingAndKeepsOrder) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  RingReader r(m.data(), m.size());
  std::mt19937 rng(7);
  uint32_t written = 0, read = 0;
  for (int round = 0; round < 2000; ++round) {
    uint32_t len = rng() % 700;
    auto p = payload(len, written);
    if (w.try_write(p)) {
      ++written;
      w.publish();
    }
    while (rng() % 3 != 0) {
      auto rec = r.next();
      if (!rec) break;
      auto expect = payload(static_cast<uint32_t>(rec->size()), read);
      if (!rec->empty()) {
        ASSERT_EQ(0, std::memcmp(rec->data(), expect.data(), rec->size())) << read;
      }
      ++read;
      r.commit();
    }
  }
  EXPECT_GT(m.hdr()->write_pos.load(), 20 * 4096u);  // wrapped many times
  EXPECT_EQ(r.faults().bad_header, 0u);
}

TEST(Ring, CorruptLengthIsSkippedAndCounted) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  RingReader r(m.data(), m.size());
  auto a = payload(40, 1), b = payload(40, 2), c = payload(40, 3);
  w.try_write(a);
  w.try_write(b);
  w.try_write(c);
  w.publish();
  // Scribble a huge length over the second record's header (offset 48).
  uint32_t evil = 0x7fffffff;
  std::memcpy(m.bytes() + 48, &evil, 4);
  auto r1 = r.next();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->data()[0], a[0]);
  auto r3 = r.next();
  ASSERT_TRUE(r3);
  EXPECT_EQ(0, std::memcmp(r3->data(), c.data(), c.size()));
  EXPECT_GE(r.faults().bad_header, 1u);
  EXPECT_GE(r.faults().skipped_bytes, 48u);
  EXPECT_FALSE(r.next());
}

TEST(Ring, GarbageEverywhereNeverCrashesTheConsumer) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  std::mt19937 rng(11);
  for (int i = 0; i < 50; ++i) w.try_write(payload(rng() % 200, i));
  w.publish();
  for (size_t i = 0; i < 4096; ++i) m.bytes()[i] = static_cast<uint8_t>(rng());
  RingReader r(m.data(), m.size());
  size_t total = 0;
  while (auto rec = r.next()) {
    ASSERT_LE(rec->size(), r.published());
    total += rec->size();
  }
  EXPECT_GT(r.faults().bad_header, 0u);
  EXPECT_EQ(r.position(), r.published());
}

TEST(Ring, ConsumerPositionBackwardsOrPastProducerIsClamped) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  RingReader r(m.data(), m.size());
  auto p = payload(120, 1);
  for (int i = 0; i < 10; ++i) w.try_write(p);
  w.publish();
  for (int i = 0; i < 10; ++i) r.next();
  r.commit();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(w.try_write(p));
  w.publish();
  EXPECT_NEAR(w.utilization(), 10 * 128 / 4096.0, 1e-9);  // the producer has seen the commit
  uint64_t good = m.hdr()->read_pos.load();
  // A hostile consumer claims it read far ahead: the producer must not believe it.
  m.hdr()->read_pos.store(good + 1'000'000);
  int extra = 0;
  while (w.try_write(p)) ++extra;
  EXPECT_EQ(extra, (4096 - 10 * 128) / 128);
  EXPECT_GE(w.faults().bad_consumer_pos, 1u);
  // ...or backwards: still no overwrite of unread data, and no extra room.
  m.hdr()->read_pos.store(0);
  EXPECT_FALSE(w.try_write(p));
  EXPECT_GE(w.faults().bad_consumer_pos, 2u);
}

TEST(Ring, ProducerPositionPastTheWindowIsDetected) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  w.try_write(payload(10, 1));
  w.publish();
  m.hdr()->write_pos.store(1 << 20);  // hostile: "lapped" the consumer
  RingReader r(m.data(), m.size());
  EXPECT_FALSE(r.next());
  EXPECT_GE(r.faults().bad_producer_pos, 1u);
}

TEST(Ring, ConsumerCrashRereadsUncommitted) {
  Mem m(4096);
  RingWriter w(m.data(), m.size());
  for (int i = 0; i < 5; ++i) w.try_write(payload(16, i));
  w.publish();
  {
    RingReader r(m.data(), m.size());
    r.next();
    r.next();
    r.commit();
    r.next();  // read, never committed: "crash"
  }
  RingReader again(m.data(), m.size());
  int n = 0;
  while (auto rec = again.next()) {
    EXPECT_EQ((*rec)[0], payload(16, n + 2)[0]);
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(Ring, ProducerKilledMidRecordLeavesNoGarbage) {
  auto seg = ShmSegment::create("/ringward-test-midrec", ring_segment_size(1 << 16), 0600);
  ring_format(seg.data(), seg.size(), 1 << 16, 1 << 20, "midrec");
  pid_t pid = fork();
  if (pid == 0) {
    auto s = ShmSegment::open("/ringward-test-midrec");
    RingWriter w(s.data(), s.size());
    for (uint32_t i = 0; i < 10; ++i) w.try_write(payload(100, i));
    w.publish();
    uint8_t* half = w.reserve(4000);  // a record half written when the producer dies
    std::memset(half, 0xAB, 2000);
    raise(SIGKILL);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  // A restarted producer continues from the published position and overwrites the torn record.
  RingWriter w(seg.data(), seg.size());
  w.try_write(payload(50, 99));
  w.publish();
  RingReader r(seg.data(), seg.size());
  int n = 0;
  while (auto rec = r.next()) {
    uint32_t seed = n < 10 ? n : 99;
    auto expect = payload(static_cast<uint32_t>(rec->size()), seed);
    EXPECT_EQ(0, std::memcmp(rec->data(), expect.data(), rec->size()));
    ++n;
  }
  EXPECT_EQ(n, 11);
  EXPECT_EQ(r.faults().bad_header, 0u);
  ShmSegment::remove("/ringward-test-midrec");
}

TEST(Ring, SegmentsAreNotWorldReadable) {
  auto seg = ShmSegment::create("/ringward-test-mode", 8192, 0600);
  struct stat st {};
  ASSERT_EQ(0, stat("/dev/shm/ringward-test-mode", &st));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ShmSegment::remove("/ringward-test-mode");
}

TEST(Ring, TwoProcessesTransferEveryRecordInOrder) {
  constexpr uint32_t kCount = 300'000;
  auto seg = ShmSegment::create("/ringward-test-2p", ring_segment_size(1 << 16), 0600);
  ring_format(seg.data(), seg.size(), 1 << 16, 1 << 20, "2p");
  pid_t pid = fork();
  if (pid == 0) {
    auto s = ShmSegment::open("/ringward-test-2p");
    RingWriter w(s.data(), s.size());
    for (uint32_t i = 0; i < kCount; ++i) {
      uint32_t len = 8 + (i % 500);
      std::vector<uint8_t> p(len, static_cast<uint8_t>(i));
      std::memcpy(p.data(), &i, 4);
      while (!w.try_write(p)) {
        w.publish();
        w.wait_for_space(len, 10'000'000);
      }
      if (i % 64 == 0) w.publish();
    }
    w.publish();
    _exit(0);
  }
  RingReader r(seg.data(), seg.size());
  uint32_t expect = 0;
  while (expect < kCount) {
    auto rec = r.next();
    if (!rec) {
      r.commit();
      r.wait(100'000'000);
      continue;
    }
    uint32_t got;
    std::memcpy(&got, rec->data(), 4);
    ASSERT_EQ(got, expect);
    ASSERT_EQ(rec->size(), 8 + (expect % 500));
    ASSERT_EQ((*rec)[rec->size() - 1], static_cast<uint8_t>(expect));
    ++expect;
    if (expect % 32 == 0) r.commit();
  }
  r.commit();
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(r.faults().bad_header, 0u);
  ShmSegment::remove("/ringward-test-2p");
}

}  // namespace
}  // namespace ringward
