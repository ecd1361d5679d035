// Validation stage: real Cap'n Proto records built, serialised and mangled; clock injected.
#include "processor/stages/validator.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

namespace ringward::processor {
namespace {

constexpr uint64_t kNowMono = 5'000'000'000'000ULL;             // 5000 s after boot
constexpr uint64_t kNowWall = 1'700'000'000'000'000'000ULL;

std::vector<std::byte> to_bytes(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  std::vector<std::byte> out(bytes.size());
  std::memcpy(out.data(), bytes.begin(), bytes.size());
  return out;
}

void fill_base(schema::Event::Builder ev) {
  ev.setId(42);
  ev.setMonoNs(kNowMono - 1000);
  ev.setWallNs(kNowWall - 1000);
  ev.setHost("host-1");
  ev.setPid(1234);
  ev.setTid(1235);
  ev.setPpid(1);
  const char comm[] = "nginx";
  ev.setComm(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(comm), 5));
}

capnp::Data::Reader data(const char* s, size_t n) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s), n);
}
capnp::Data::Reader data(const char* s) { return data(s, std::strlen(s)); }

// A valid fileOpen record with `mutate` applied.
std::vector<std::byte> file_open(const std::function<void(schema::Event::Builder)>& mutate = {}) {
  capnp::MallocMessageBuilder message;
  auto ev = message.initRoot<schema::Event>();
  fill_base(ev);
  auto fo = ev.getKind().initFileOpen();
  fo.setPath(data("/etc/passwd"));
  fo.setSyscall("openat");
  if (mutate) mutate(ev);
  return to_bytes(message);
}

class ValidatorTest : public ::testing::Test {
 protected:
  ManualClock clock_{kNowMono, kNowWall};
  Validator validator_{ValidationConfig{}, clock_};
  DecodedRecord record_;

  // Keeps the bytes alive: the decoded event refers to them.
  ValidationResult check(std::vector<std::byte> bytes) {
    bytes_ = std::move(bytes);
    return validator_.validate(bytes_, record_);
  }
  std::vector<std::byte> bytes_;
};

TEST_F(ValidatorTest, AcceptsAWellFormedEventAndExposesIt) {
  const auto r = check(file_open());
  ASSERT_TRUE(r.ok()) << reason_name(r.reason) << " " << r.field;
  EXPECT_FALSE(r.needs_escape);
  ASSERT_TRUE(record_.has_event());
  EXPECT_EQ(record_.event().getPid(), 1234u);
  EXPECT_EQ(record_.event().getKind().getFileOpen().getSyscall(), "openat");
  EXPECT_EQ(validator_.counters().validated, 1u);
  EXPECT_EQ(validator_.counters().invalid, 0u);
}

TEST_F(ValidatorTest, EveryKindCaptureEmitsValidates) {
  capnp::MallocMessageBuilder m1;
  auto e1 = m1.initRoot<schema::Event>();
  fill_base(e1);
  auto ex = e1.getKind().initProcessExec();
  ex.setFilename(data("/usr/bin/curl"));
  auto argv = ex.initArgv(2);
  argv.set(0, data("curl"));
  argv.set(1, data("http://example.com/"));
  ex.setCwd(data("/tmp"));
  EXPECT_TRUE(check(to_bytes(m1)).ok());

  capnp::MallocMessageBuilder m2;
  auto e2 = m2.initRoot<schema::Event>();
  fill_base(e2);
  auto http = e2.getKind().initHttp();
  http.setMethod("GET");
  http.setTarget(data("/api/users?id=1"));
  http.setStatus(200);
  http.setFamily(2);
  http.setLocalAddr(data("\x7f\0\0\x01", 4));
  http.setRemoteAddr(data("\x7f\0\0\x01", 4));
  http.setRole("server");
  EXPECT_TRUE(check(to_bytes(m2)).ok());

  capnp::MallocMessageBuilder m3;
  auto e3 = m3.initRoot<schema::Event>();
  fill_base(e3);
  e3.setPid(0);
  e3.setTid(0);
  e3.setComm(data(""));
  auto lost = e3.getKind().initLost();
  lost.setCount(10);
  lost.setStage("kernel");
  lost.setReason("ringbuf_full");
  EXPECT_TRUE(check(to_bytes(m3)).ok()) << "lost events carry no process";

  capnp::MallocMessageBuilder m4;
  auto e4 = m4.initRoot<schema::Event>();
  fill_base(e4);
  auto nc = e4.getKind().initNetConnect();
  nc.setFamily(10);
  std::string v6(16, '\0');
  v6[15] = 1;
  nc.setSrcAddr(data(v6.data(), 16));
  nc.setDstAddr(data(v6.data(), 16));
  EXPECT_TRUE(check(to_bytes(m4)).ok());
}

TEST_F(ValidatorTest, RejectsOversizedRecordsBeforeDecoding) {
  ValidationConfig config;
  config.max_record_bytes = 64;
  Validator small(config, clock_);
  const auto r = small.validate(file_open(), record_);
  EXPECT_EQ(r.reason, ValidationReason::kTooLarge);
  EXPECT_EQ(small.counters().by_reason[static_cast<size_t>(ValidationReason::kTooLarge)], 1u);
  EXPECT_FALSE(record_.has_event());
}

TEST_F(ValidatorTest, RejectsGarbageAsDecodeError) {
  std::vector<std::byte> junk(64, std::byte{0xff});
  EXPECT_EQ(check(junk).reason, ValidationReason::kDecodeError);
  std::vector<std::byte> odd(13, std::byte{0});
  EXPECT_EQ(check(odd).reason, ValidationReason::kDecodeError);
  EXPECT_EQ(check({}).reason, ValidationReason::kDecodeError);
  auto truncated = file_open();
  truncated.resize(truncated.size() - 8);
  EXPECT_EQ(check(truncated).reason, ValidationReason::kDecodeError);
  auto trailing = file_open();
  trailing.resize(trailing.size() + 8);
  EXPECT_EQ(check(trailing).reason, ValidationReason::kDecodeError);
  EXPECT_EQ(validator_.counters().invalid, 5u);
}

TEST_F(ValidatorTest, DecodesUnalignedRecords) {
  const auto bytes = file_open();
  std::vector<std::byte> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  const auto r = validator_.validate(std::span(shifted).subspan(1), record_);
  EXPECT_TRUE(r.ok()) << reason_name(r.reason);
}

TEST_F(ValidatorTest, RejectsBadTimestamps) {
  EXPECT_EQ(check(file_open([](auto ev) { ev.setMonoNs(0); })).reason,
            ValidationReason::kBadTimestamp);
  EXPECT_EQ(check(file_open([](auto ev) { ev.setMonoNs(kNowMono + 60'000'000'000ULL); })).reason,
            ValidationReason::kBadTimestamp);
  EXPECT_EQ(check(file_open([](auto ev) { ev.setWallNs(kNowWall + 60'000'000'000ULL); })).reason,
            ValidationReason::kBadTimestamp);
  EXPECT_EQ(check(file_open([](auto ev) { ev.setWallNs(1); })).reason,
            ValidationReason::kBadTimestamp);
  // Within the skew is fine: the capture clock read may trail ours by a little.
  EXPECT_TRUE(check(file_open([](auto ev) { ev.setMonoNs(kNowMono + 1'000'000); })).ok());
}

TEST_F(ValidatorTest, RejectsPidsOutsideTheRange) {
  ValidationConfig config;
  config.pid_max = 32768;
  Validator v(config, clock_);
  EXPECT_EQ(v.validate(file_open([](auto ev) { ev.setPid(0); }), record_).reason,
            ValidationReason::kBadPid);
  EXPECT_EQ(v.validate(file_open([](auto ev) { ev.setTid(0); }), record_).reason,
            ValidationReason::kBadPid);
  EXPECT_EQ(v.validate(file_open([](auto ev) { ev.setPid(32769); }), record_).reason,
            ValidationReason::kBadPid);
  EXPECT_EQ(v.validate(file_open([](auto ev) { ev.setPpid(1u << 31); }), record_).reason,
            ValidationReason::kBadPid);
  EXPECT_TRUE(v.validate(file_open([](auto ev) { ev.setPid(32768); }), record_).ok());
}

TEST_F(ValidatorTest, ChecksCommFormat) {
  EXPECT_EQ(check(file_open([](auto ev) { ev.setComm(data("")); })).reason,
            ValidationReason::kBadComm);
  EXPECT_EQ(check(file_open([](auto ev) { ev.setComm(data("abcdefghijklmnopq")); })).reason,
            ValidationReason::kBadComm);
  EXPECT_EQ(check(file_open([](auto ev) { ev.setComm(data("ng\0inx", 6)); })).reason,
            ValidationReason::kBadComm);
  // The kernel's 16-byte buffer with NUL padding is fine.
  EXPECT_TRUE(check(file_open([](auto ev) { ev.setComm(data("nginx\0\0\0\0\0\0\0\0\0\0\0", 16)); }))
                  .ok());
  // Control characters are allowed (prctl can set them) but must be escaped downstream.
  const auto r = check(file_open([](auto ev) { ev.setComm(data("evil\x1b[2J")); }));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.needs_escape);
}

TEST_F(ValidatorTest, ChecksStrings) {
  // A NUL inside a path is never what the kernel saw: a truncation trick.
  EXPECT_EQ(check(file_open([](auto ev) {
              ev.getKind().getFileOpen().setPath(data("/var/www/x.php\0.jpg", 19));
            })).reason,
            ValidationReason::kBadString);
  // Over PATH_MAX.
  const std::string long_path(5000, 'a');
  EXPECT_EQ(check(file_open([&](auto ev) {
              ev.getKind().getFileOpen().setPath(data(long_path.data(), long_path.size()));
            })).reason,
            ValidationReason::kBadString);
  // Text fields must be UTF-8: an overlong '/' (C0 AF) is not.
  EXPECT_EQ(check(file_open([](auto ev) {
              ev.getKind().getFileOpen().setSyscall(capnp::Text::Reader("open\xc0\xaf", 6));
            })).reason,
            ValidationReason::kBadString);
  EXPECT_EQ(check(file_open([](auto ev) { ev.setHost(capnp::Text::Reader("h\0st", 4)); })).reason,
            ValidationReason::kBadString);
  // Non-UTF-8 bytes in a path are legal on Linux: kept, marked for escaping.
  const auto r = check(file_open([](auto ev) {
    ev.getKind().getFileOpen().setPath(data("/tmp/\xff\xfe"));
  }));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.needs_escape);
  // Valid multi-byte UTF-8 needs no escaping.
  const auto u = check(file_open([](auto ev) {
    ev.getKind().getFileOpen().setPath(data("/tmp/caf\xc3\xa9"));
  }));
  EXPECT_TRUE(u.ok());
  EXPECT_FALSE(u.needs_escape);
}

// The printable check reads a blob's last word whole and masks the padding: a control or
// non-ASCII byte at any position of any length up to three words is still seen, and junk in the
// padding bytes past the end (hostile writers need not zero them) is not mistaken for content.
TEST_F(ValidatorTest, SeesEveryByteOfAPathWhateverItsLengthAndPadding) {
  for (size_t len = 1; len <= 24; ++len) {
    for (size_t bad = 0; bad < len; ++bad) {
      for (unsigned char c : {0x01, 0x7f, 0xff}) {
        std::string path(len, 'p');
        path[bad] = static_cast<char>(c);
        const auto r = check(file_open([&](auto ev) {
          ev.getKind().getFileOpen().setPath(data(path.data(), path.size()));
        }));
        ASSERT_TRUE(r.ok()) << "len " << len << " at " << bad;
        EXPECT_TRUE(r.needs_escape) << "len " << len << " byte " << int(c) << " at " << bad;
      }
    }
    // Clean path, padding after it filled with control bytes: still printable, no escaping.
    std::string clean(len, 'p');
    auto bytes = file_open([&](auto ev) {
      ev.getKind().getFileOpen().setPath(data(clean.data(), clean.size()));
    });
    // Find the path's bytes through a reader over the same buffer.
    std::vector<capnp::word> words(bytes.size() / sizeof(capnp::word));
    std::memcpy(words.data(), bytes.data(), bytes.size());
    capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
    const auto* at = reader.getRoot<schema::Event>().getKind().getFileOpen().getPath().begin();
    auto it = bytes.begin() + (reinterpret_cast<const std::byte*>(at) -
                               reinterpret_cast<const std::byte*>(words.data()));
    for (auto p = it + static_cast<std::ptrdiff_t>(len);
         p != bytes.end() && (p - bytes.begin()) % 8 != 0; ++p)
      *p = std::byte{0x01};
    const auto r = check(std::move(bytes));
    ASSERT_TRUE(r.ok()) << "len " << len;
    EXPECT_FALSE(r.needs_escape) << "len " << len;
  }
}

TEST_F(ValidatorTest, RejectsForgedAndUnknownKinds) {
  // A validation_failure arriving on the raw ring is forged: only the processor makes those.
  capnp::MallocMessageBuilder m;
  auto ev = m.initRoot<schema::Event>();
  fill_base(ev);
  ev.getKind().initValidationFailure().setReason("x");
  EXPECT_EQ(check(to_bytes(m)).reason, ValidationReason::kUnknownKind);

  // An unknown union discriminant (a newer schema or garbage): patch the tag in the data section.
  capnp::MallocMessageBuilder m2;
  auto e2 = m2.initRoot<schema::Event>();
  fill_base(e2);
  e2.getKind().initProcessExit().setExitCode(0);
  auto words = capnp::messageToFlatArray(m2);
  auto b = words.asBytes();
  // Locate the tag value of processExit (16) and bump it to 99: try each 16-bit slot until the
  // decoded which() changes, so the test does not hard-code the layout.
  bool patched = false;
  for (size_t off = 8; off + 2 <= b.size() && !patched; off += 2) {
    uint16_t v;
    std::memcpy(&v, b.begin() + off, 2);
    if (v != static_cast<uint16_t>(schema::Event::Kind::PROCESS_EXIT)) continue;
    std::vector<std::byte> copy(b.size());
    std::memcpy(copy.data(), b.begin(), b.size());
    const uint16_t bad = 99;
    std::memcpy(copy.data() + off, &bad, 2);
    capnp::FlatArrayMessageReader reader(
        kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(copy.data()),
                                        copy.size() / 8));
    if (static_cast<uint16_t>(reader.getRoot<schema::Event>().getKind().which()) == 99) {
      EXPECT_EQ(check(copy).reason, ValidationReason::kUnknownKind);
      patched = true;
    }
  }
  EXPECT_TRUE(patched) << "could not locate the union tag";
}

TEST_F(ValidatorTest, RejectsProcessorFieldsForgedOnTheRawRing) {
  EXPECT_EQ(check(file_open([](auto ev) { ev.setVerdict(schema::Verdict::CLEAN); })).reason,
            ValidationReason::kBadField);
  EXPECT_EQ(check(file_open([](auto ev) { ev.initRuleIds(1).set(0, "sqli-001"); })).reason,
            ValidationReason::kBadField);
  capnp::MallocMessageBuilder m;
  auto ev = m.initRoot<schema::Event>();
  fill_base(ev);
  auto http = ev.getKind().initHttp();
  http.setMethod("GET");
  http.setRoute("/api/{id}");
  const auto bytes = to_bytes(m);
  EXPECT_EQ(check(bytes).reason, ValidationReason::kBadField);
  // The same record is fine where processor output is validated.
  ValidationConfig out_ring;
  out_ring.reject_derived_fields = false;
  Validator v(out_ring, clock_);
  EXPECT_TRUE(v.validate(bytes, record_).ok());
}

TEST_F(ValidatorTest, RejectsAddressLengthMismatch) {
  capnp::MallocMessageBuilder m;
  auto ev = m.initRoot<schema::Event>();
  fill_base(ev);
  auto nc = ev.getKind().initNetConnect();
  nc.setFamily(2);
  nc.setDstAddr(data("0123456789abcdef", 16));
  EXPECT_EQ(check(to_bytes(m)).reason, ValidationReason::kBadField);
}

// Capture reports a failed accept on a TCP listener (EINVAL, EMFILE, ECONNABORTED) without a
// peer; only then may the family be unknown.
TEST_F(ValidatorTest, FailedAcceptWithoutAPeerValidatesASuccessfulOneDoesNot) {
  for (int result : {-22, 7}) {
    capnp::MallocMessageBuilder m;
    auto ev = m.initRoot<schema::Event>();
    fill_base(ev);
    auto na = ev.getKind().initNetAccept();
    na.setFamily(0);
    na.setResult(result);
    auto r = check(to_bytes(m));
    if (result < 0)
      EXPECT_TRUE(r.ok()) << "failed accept";
    else
      EXPECT_EQ(r.reason, ValidationReason::kBadField) << "accepted connection without a family";
  }
}

TEST_F(ValidatorTest, BoundsArgvCount) {
  ValidationConfig config;
  config.max_argv = 1000;
  Validator v(config, clock_);
  for (unsigned n : {1000u, 1001u}) {
    capnp::MallocMessageBuilder m;
    auto ev = m.initRoot<schema::Event>();
    fill_base(ev);
    auto ex = ev.getKind().initProcessExec();
    ex.setFilename(data("/bin/sh"));
    ex.initArgv(n);
    EXPECT_EQ(v.validate(to_bytes(m), record_).ok(), n == 1000u) << n;
  }
}

TEST(ValidationSamplerTest, OneSamplePerReasonPerInterval) {
  ManualClock clock;
  ValidationSampler sampler(clock, 10'000'000'000ULL, 8);
  const std::vector<std::byte> record(100, std::byte{0xab});
  const ValidationResult bad_pid{ValidationReason::kBadPid, "pid", false};
  const ValidationResult bad_comm{ValidationReason::kBadComm, "comm", false};

  auto first = sampler.offer(bad_pid, record);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->count, 1u);
  EXPECT_EQ(first->prefix.size(), 8u);
  EXPECT_FALSE(sampler.offer(bad_pid, record).has_value());
  EXPECT_FALSE(sampler.offer(bad_pid, record).has_value());
  // Another reason has its own interval.
  EXPECT_TRUE(sampler.offer(bad_comm, record).has_value());
  EXPECT_FALSE(sampler.offer(ValidationResult{}, record).has_value()) << "ok is never sampled";

  clock.advance_ms(5'000);
  EXPECT_TRUE(sampler.flush_due().empty()) << "interval not over yet";
  clock.advance_ms(5'001);
  auto due = sampler.flush_due();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].reason, ValidationReason::kBadPid);
  EXPECT_EQ(due[0].count, 2u) << "the two suppressed failures";

  clock.advance_ms(10'001);
  auto next = sampler.offer(bad_pid, record);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->count, 1u);
  EXPECT_EQ(sampler.samples_emitted(), 4u);
}

TEST(ValidationSamplerTest, BuildsAValidationFailureEventThatValidates) {
  ManualClock clock(kNowMono, kNowWall);
  const ValidationSample sample{ValidationReason::kBadString, "fileOpen.path", 3,
                                std::vector<std::byte>(16, std::byte{0})};
  capnp::MallocMessageBuilder m;
  build_validation_failure_event(sample, 7, clock, m.initRoot<schema::Event>());
  auto ev = m.getRoot<schema::Event>().asReader();
  EXPECT_EQ(ev.getPriority(), schema::Priority::HIGH);
  ASSERT_EQ(ev.getKind().which(), schema::Event::Kind::VALIDATION_FAILURE);
  EXPECT_EQ(ev.getKind().getValidationFailure().getReason(), "bad_string");
  EXPECT_EQ(ev.getKind().getValidationFailure().getCount(), 3u);
  // The out-ring validator (processor-made kinds allowed) accepts it.
  ValidationConfig config;
  config.allowed_kinds = ~0u;
  config.reject_derived_fields = false;
  Validator v(config, clock);
  DecodedRecord rec;
  const auto r = v.validate(to_bytes(m), rec);
  EXPECT_TRUE(r.ok()) << reason_name(r.reason) << " " << r.field;
}

TEST(ValidatorPidMax, ReadsTheKernelValue) {
  const auto pid_max = read_pid_max();
  ASSERT_TRUE(pid_max.has_value());
  EXPECT_GE(*pid_max, 301u);
  EXPECT_FALSE(read_pid_max("/nonexistent/pid_max").has_value());
}

// Property: any byte string is either accepted or rejected with a reason, counted exactly once,
// never a crash or an escaped exception.
RC_GTEST_PROP(ValidatorProperty, ArbitraryBytesAreCountedNeverCrash, ()) {
  ManualClock clock(kNowMono, kNowWall);
  Validator v(ValidationConfig{}, clock);
  DecodedRecord rec;
  const auto raw = *rc::gen::container<std::vector<uint8_t>>(rc::gen::arbitrary<uint8_t>());
  std::vector<std::byte> bytes(raw.size());
  if (!raw.empty()) std::memcpy(bytes.data(), raw.data(), raw.size());
  const auto r = v.validate(bytes, rec);
  RC_ASSERT(v.counters().validated + v.counters().invalid == 1u);
  RC_ASSERT(r.ok() == rec.has_event());
}

// Property: flipping bytes of a valid record never crashes the validator.
RC_GTEST_PROP(ValidatorProperty, MutatedRecordsNeverCrash, ()) {
  ManualClock clock(kNowMono, kNowWall);
  Validator v(ValidationConfig{}, clock);
  DecodedRecord rec;
  auto bytes = file_open();
  const auto flips = *rc::gen::inRange<size_t>(1, 16);
  for (size_t i = 0; i < flips; ++i) {
    const auto at = *rc::gen::inRange<size_t>(0, bytes.size());
    bytes[at] = static_cast<std::byte>(*rc::gen::arbitrary<uint8_t>());
  }
  (void)v.validate(bytes, rec);
  RC_ASSERT(v.counters().validated + v.counters().invalid == 1u);
}

}  // namespace
}  // namespace ringward::processor
