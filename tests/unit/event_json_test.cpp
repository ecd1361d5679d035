// JSON rendering of events: every byte sequence yields valid JSON; fields per kind.
#include <capnp/message.h>
#include <cstdio>
#include <ctime>
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "common/event_json.h"

namespace ringward {
namespace {

// A strict JSON string validator (RFC 8259): what any JSON tool will accept.
bool valid_json_string(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return false;
  ++i;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      ++i;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (++i >= s.size()) return false;
      char e = s[i];
      if (e == 'u') {
        for (int k = 1; k <= 4; ++k)
          if (i + k >= s.size() || !isxdigit(static_cast<unsigned char>(s[i + k]))) return false;
        i += 5;
        continue;
      }
      if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) return false;
      ++i;
      continue;
    }
    if (c >= 0x80) {  // must be valid UTF-8
      int n = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC2) ? 2 : 0;
      if (n == 0 || i + n > s.size()) return false;
      for (int k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
      i += n;
      continue;
    }
    ++i;
  }
  return false;
}

TEST(EventJson, ArbitraryBytesAlwaysGiveAValidJsonString) {
  rc::check([](const std::string& bytes) {
    std::string out;
    append_json_string(bytes, out);
    size_t i = 0;
    RC_ASSERT(valid_json_string(out, i));
    RC_ASSERT(i == out.size());
  });
}

TEST(EventJson, EscapesAsDocumented) {
  std::string out;
  append_json_string(std::string("a\"b\\c\n\x01\xff\xc3\xa9", 10), out);
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\\\\xffé\"");
}

TEST(EventJson, RendersEnvelopeAndKind) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  ev.setId(0xFFFFFFFFFFFFFFF0ULL);
  ev.setWallNs(1'700'000'000'123'456'789ULL);
  ev.setPid(42);
  ev.setPriority(schema::Priority::HIGH);
  const char comm[] = "cu\0rl";
  ev.setComm(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(comm), 5));
  auto c = ev.initKind().initNetConnect();
  c.setFamily(10);
  uint8_t v6[16] = {0};
  v6[15] = 1;
  c.setDstAddr(capnp::Data::Reader(v6, 16));
  c.setDstPort(443);
  std::string j = event_to_json(ev.asReader());
  EXPECT_EQ(j.rfind("{\"id\":\"18446744073709551600\",\"type\":\"net_connect\",\"priority\":\"high\","
                    "\"time\":\"2023-11-14T22:13:20.123456789Z\"", 0), 0u) << j;
  EXPECT_NE(j.find("\"comm\":\"cu\\u0000rl\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"dst_addr\":\"::1\",\"dst_port\":443"), std::string::npos) << j;
}

// RFC 3339 time with nanoseconds for any uint64 (to 2554), whatever came before it (the date is
// cached per second): checked against gmtime and printf, in random order.
TEST(EventJson, TimeMatchesGmtimeForAnyInstantInAnyOrder) {
  auto reference = [](uint64_t ns) {
    const time_t secs = static_cast<time_t>(ns / 1'000'000'000ULL);
    tm t{};
    gmtime_r(&secs, &t);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", t.tm_year + 1900,
                  t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                  static_cast<unsigned long long>(ns % 1'000'000'000ULL));
    return std::string(buf);
  };
  for (uint64_t ns : std::initializer_list<uint64_t>{0ULL, 999'999'999ULL, 1'000'000'000ULL, 1'700'000'000'123'456'789ULL,
                      1'700'000'000'999'999'999ULL, 1'700'000'001'000'000'000ULL,
                      1'700'000'000'000'000'001ULL, UINT64_MAX})
    EXPECT_EQ(format_rfc3339_ns(ns), reference(ns)) << ns;
  const bool ok = rc::check("time of any instant", [&](const std::vector<uint64_t>& instants) {
    for (uint64_t ns : instants) RC_ASSERT(format_rfc3339_ns(ns) == reference(ns));
    // Neighbours in the same second, in a run (the cached path).
    for (uint64_t ns : instants)
      for (uint64_t d : std::initializer_list<uint64_t>{1ULL, 7ULL, 500'000'000ULL})
        if (ns <= UINT64_MAX - d) RC_ASSERT(format_rfc3339_ns(ns + d) == reference(ns + d));
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace ringward
