// Tests of the sinks' bounded JSON reader and escaping writer, and of the HTTP helpers.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "common/clock.h"
#include "shipper/sinks/http_client.h"
#include "shipper/sinks/json.h"

namespace ringward::shipper::sinks {
namespace {

TEST(Json, ParsesHecAnswer) {
  auto v = parse_json(R"({"text":"Invalid data format","code":6,"invalid-event-number":3})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->get("code")->as_int(), 6);
  EXPECT_EQ(v->get("invalid-event-number")->as_int(), 3);
  EXPECT_EQ(v->get("text")->text, "Invalid data format");
}

TEST(Json, ConcatenatedValuesAndErrors) {
  std::string s = R"({"a":1} {"b":[true,null,"x\u00e9\ud83d\ude00"]}{"c":-2.5e3})";
  size_t pos = 0;
  auto a = parse_json_value(s, pos);
  auto b = parse_json_value(s, pos);
  auto c = parse_json_value(s, pos);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(b->get("b")->items[2].text, "x\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_DOUBLE_EQ(c->get("c")->number, -2500);
  std::string err;
  EXPECT_FALSE(parse_json(R"({"a":1)", &err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(parse_json("[1] x"));
  EXPECT_FALSE(parse_json(std::string(100, '[') + std::string(100, ']')));  // depth cap
}

TEST(Json, EscapingAlwaysYieldsValidJson) {
  rc::check("any bytes round-trip through append_json_string as valid JSON", [](const std::string& s) {
    std::string out;
    append_json_string(out, s);
    auto v = parse_json(out);
    RC_ASSERT(v.has_value());
    RC_ASSERT(v->type == JsonValue::Type::string);
    bool ascii_printable = true;
    for (unsigned char c : s) ascii_printable &= (c >= 0x20 && c < 0x80) || c == '\n' || c == '\t';
    if (ascii_printable) RC_ASSERT(v->text == s);
  });
  std::string out;
  append_json_string(out, std::string("a\xFF\x01\"b", 5));
  // The same rule as the NDJSON sink: an invalid byte is kept recoverable as the text \xHH.
  EXPECT_EQ(out, "\"a\\\\xff\\u0001\\\"b\"");
}

TEST(Http, RetryAfterSecondsAndDate) {
  ManualClock clock(1, 1'445'412'480'000'000'000ULL);  // 2015-10-21 07:28:00 UTC
  EXPECT_EQ(parse_retry_after("7", clock), std::chrono::milliseconds(7000));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", clock), std::chrono::milliseconds(30000));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", clock), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("999999999", clock), std::chrono::milliseconds(3600 * 1000));
  EXPECT_FALSE(parse_retry_after("soon", clock));
  EXPECT_FALSE(parse_retry_after("-3", clock));
}

TEST(Http, GzipRoundTripAndBackpressureBody) {
  std::string in(100000, 'x');
  auto z = compress(Compression::gzip, in);
  ASSERT_TRUE(z);
  EXPECT_LT(z->size(), in.size() / 10);
  EXPECT_EQ(gunzip(*z, 1 << 20), in);
  EXPECT_FALSE(gunzip(*z, 1000));  // output cap enforced
  EXPECT_TRUE(body_signals_backpressure(R"({"status":"BACKPRESSURE"})"));
  EXPECT_FALSE(body_signals_backpressure(R"({"status":"OK","text":"BACKPRESSURE"})"));
  EXPECT_EQ(join_url("http://h:1//", "/v1/logs"), "http://h:1/v1/logs");
}

}  // namespace
}  // namespace ringward::shipper::sinks
