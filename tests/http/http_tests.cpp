// Unit tests of the HTTP semantics library: parser edge cases and malformed reasons, the JSON
// scanner, routes and the cardinality guard, business-error rules (incl. GraphQL partial success),
// the health formula, hysteresis, and the analyzer's exposition.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <capnp/message.h>

#include "common/clock.h"
#include "processor/http/analyzer.h"
#include "processor/http/business.h"
#include "processor/http/exposition.h"
#include "processor/http/health.h"
#include "processor/http/http_parse.h"
#include "processor/http/json_scan.h"
#include "processor/http/route.h"

namespace ringward::http {
namespace {

std::optional<Malformed> request_error(std::string_view in) {
  return parse_requests(in, ParseLimits{}).error;
}

TEST(Parse, MalformedRequestsAreCountedByReason) {
  EXPECT_EQ(request_error("GET / HTTP/2.0\r\n\r\n"), Malformed::kBadVersion);
  EXPECT_EQ(request_error("G@T / HTTP/1.1\r\n\r\n"), Malformed::kBadMethod);
  EXPECT_EQ(request_error("GET /a\x01 HTTP/1.1\r\n\r\n"), Malformed::kBadTarget);
  EXPECT_EQ(request_error("GET\r\n\r\n"), Malformed::kBadRequestLine);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), Malformed::kBadHeader);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"), Malformed::kBadHeader);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\n folded\r\n\r\n"), Malformed::kBadHeader);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), Malformed::kBadHost);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            Malformed::kBadContentLength);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Malformed::kBadContentLength);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Malformed::kBadChunk);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 70; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(request_error(many + "\r\n"), Malformed::kTooManyHeaders);
}

// Line ends are found eight bytes at a time: check every alignment of the terminator, a bare CR
// at every position of a header value, bare-LF lines, and a CR that ends the captured bytes.
TEST(Parse, LineEndsAtEveryAlignment) {
  for (size_t len = 1; len <= 40; ++len) {
    const std::string value(len, 'v');
    const auto ok = parse_requests("GET / HTTP/1.1\r\nX: " + value + "\r\nY: z\n\r\n", ParseLimits{});
    ASSERT_FALSE(ok.error) << len;
    ASSERT_EQ(ok.messages.size(), 1u) << len;
    EXPECT_TRUE(ok.messages[0].headers_complete) << len;
    for (size_t at = 0; at < len; ++at) {
      std::string bad = value;
      bad[at] = '\r';
      EXPECT_EQ(request_error("GET / HTTP/1.1\r\nX: " + bad + "\r\n\r\n"), Malformed::kBadHeader)
          << len << " at " << at;
    }
    const auto cut = parse_requests("GET / HTTP/1.1\r\nX: " + value + "\r", ParseLimits{});
    EXPECT_FALSE(cut.error) << len;
    EXPECT_TRUE(cut.truncated) << len;
    // A CR followed by anything but LF is refused even when no LF follows in the captured bytes
    // (it used to count as truncation until an LF showed up).
    EXPECT_EQ(request_error("GET / HTTP/1.1\r\nX: " + value + "\rmore"), Malformed::kBadHeader) << len;
  }
}

TEST(Parse, TruncationIsNotMalformation) {
  const auto r = parse_requests("GET /users/1 HTTP/1.1\r\nHost: exa", ParseLimits{});
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.truncated);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].target, "/users/1");
  EXPECT_FALSE(r.messages[0].headers_complete);
  const auto s = parse_responses("HTTP/1.1 503 Serv", ParseLimits{});
  ASSERT_EQ(s.messages.size(), 1u);
  EXPECT_EQ(s.messages[0].status, 503);
  EXPECT_TRUE(s.truncated);
}

TEST(Parse, ChunkedWithExtensionsAndTrailersIsDecoded) {
  const std::string in =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "4;name=v\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  const auto r = parse_responses(in, ParseLimits{});
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].body, "Wikipedia");
  EXPECT_TRUE(r.messages[0].body_complete);
  EXPECT_EQ(r.messages[1].status, 204);
  EXPECT_EQ(r.consumed, in.size());
}

TEST(Parse, ChunkedBodyPrefixIsCapped) {
  ParseLimits limits;
  limits.max_body_prefix = 4;
  const auto r = parse_responses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
                                 limits);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, "abcd");
  EXPECT_TRUE(r.messages[0].body_truncated);
}

TEST(Parse, ContinueIsInterimAndDoesNotConsumeARequest) {
  const auto r = parse_responses("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                                 "Content-Length: 2\r\n\r\nok",
                                 ParseLimits{});
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_TRUE(r.messages[0].interim);
  EXPECT_FALSE(r.messages[1].interim);
  EXPECT_EQ(r.messages[1].body, "ok");
}

TEST(Parse, SmugglingFramingDropsContentLength) {
  const auto r = parse_requests("POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: "
                                "chunked\r\n\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
                                ParseLimits{});
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_FALSE(r.messages[0].headers.content_length);
  EXPECT_EQ(r.messages[1].target, "/next");
}

// Header names match case-insensitively; Connection is a list of options matched whole.
TEST(Parse, HeaderNamesAnyCaseAndConnectionOptions) {
  const auto r = parse_requests(
      "GET /a HTTP/1.1\r\nHOST: Example.COM\r\ncOnTeNt-LeNgTh: 0\r\nConnection: Upgrade ,  CLOSE\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: b\r\nConnection: closed-loop, keep-alive-ish\r\n\r\n"
      "GET /c HTTP/1.1\r\nHost: c\r\nconnection: Keep-Alive\r\n\r\n",
      ParseLimits{});
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_TRUE(r.messages[0].headers.has_host);
  EXPECT_EQ(r.messages[0].headers.host, "Example.COM");
  EXPECT_EQ(r.messages[0].headers.content_length, 0u);
  EXPECT_TRUE(r.messages[0].headers.connection_close);
  EXPECT_FALSE(r.messages[0].headers.connection_keep_alive);
  EXPECT_FALSE(r.messages[1].headers.connection_close);
  EXPECT_FALSE(r.messages[1].headers.connection_keep_alive);
  EXPECT_FALSE(r.messages[2].headers.connection_close);
  EXPECT_TRUE(r.messages[2].headers.connection_keep_alive);
}

TEST(Parse, HardCaps) {
  ParseLimits limits;
  limits.max_messages_per_buffer = 2;
  std::string in;
  for (int i = 0; i < 5; ++i) in += "GET / HTTP/1.1\r\n\r\n";
  auto r = parse_requests(in, limits);
  EXPECT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.error, Malformed::kTooManyMessages);
  limits = ParseLimits{};
  limits.max_input_bytes = 20;
  r = parse_requests(in, limits);
  EXPECT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.error, Malformed::kInputOverCap);
}

TEST(Json, TopLevelMembersOfATruncatedBody) {
  const JsonScan s = scan_json_object(
      R"( {"a":1,"b":"x\"y\u0041","c":{"d":[1,{"e":"}"}]},"f":[],"g":null,"h":tr)");
  EXPECT_TRUE(s.is_object);
  EXPECT_TRUE(s.truncated);
  EXPECT_FALSE(s.malformed);
  ASSERT_EQ(s.members.size(), 6u);
  EXPECT_EQ(s.members[0].scalar, "1");
  EXPECT_EQ(s.members[1].scalar, "x\"yA");
  EXPECT_EQ(s.members[2].kind, JsonKind::kObject);
  EXPECT_EQ(s.members[2].raw, R"({"d":[1,{"e":"}"}]})");
  EXPECT_TRUE(s.members[3].empty_container);
  EXPECT_EQ(s.members[4].kind, JsonKind::kNull);
  EXPECT_EQ(s.members[5].kind, JsonKind::kTrue);
  EXPECT_FALSE(s.members[5].complete);
  EXPECT_EQ(s.find("c"), &s.members[2]);
}

TEST(Json, MalformedAndNonObjects) {
  EXPECT_FALSE(scan_json_object("[1,2]").is_object);
  EXPECT_FALSE(scan_json_object("").is_object);
  EXPECT_TRUE(scan_json_object(R"({"a":1 "b":2})").malformed);
  EXPECT_TRUE(scan_json_object(R"({"a":]})").malformed);
  const JsonScan deep = scan_json_object("{\"a\":" + std::string(100000, '[') + "}");
  EXPECT_TRUE(deep.truncated);  // depth costs nothing: no recursion
}

TEST(Route, Heuristics) {
  RouteConfig c;
  RouteNormalizer n(c);
  EXPECT_EQ(n.normalize("s", "/users/12345?x=1#f"), "/users/{id}");
  EXPECT_EQ(n.normalize("s", "/o/550e8400-e29b-41d4-a716-446655440000/items"), "/o/{uuid}/items");
  EXPECT_EQ(n.normalize("s", "/commits/9f86d081884c7d65"), "/commits/{hex}");
  EXPECT_EQ(n.normalize("s", "/reset/aZ3kQ9xLmP2vB7nR4tY8wE"), "/reset/{token}");
  EXPECT_EQ(n.normalize("s", "/blog/how-to-configure-nginx-properly"),
            "/blog/how-to-configure-nginx-properly");
  EXPECT_EQ(n.normalize("s", "/cafe"), "/cafe");  // all-hex letters without a digit stay words
  EXPECT_EQ(n.normalize("s", "http://Example.com/a/1"), "/a/{id}");
  EXPECT_EQ(n.normalize("s", "//a///b/"), "/a/b");
  EXPECT_EQ(n.normalize("s", "/"), "/");
  EXPECT_EQ(n.normalize("s", "*"), "*");
  EXPECT_EQ(n.normalize("s", "example.com:443"), "{authority}");
  EXPECT_EQ(n.normalize("s", "/a/\"quoted\""), "/a/{invalid}");
  EXPECT_EQ(n.normalize("s", "/" + std::string(100, 'a')), "/{token}");
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "/d";
  EXPECT_EQ(n.normalize("s", deep), "/d/d/d/d/d/d/d/d/d/d/d/d/{...}");
}

TEST(Route, ConfiguredPatternsWin) {
  RouteConfig c;
  c.patterns = {"/users/{id}/orders", "/files/{*}", "/v1/{tenant}/status"};
  RouteNormalizer n(c);
  EXPECT_EQ(n.normalize("s", "/users/alice/orders"), "/users/{id}/orders");
  EXPECT_EQ(n.normalize("s", "/files/a/b/c.txt"), "/files/{*}");
  EXPECT_EQ(n.normalize("s", "/v1/acme/status"), "/v1/{tenant}/status");
  EXPECT_EQ(n.normalize("s", "/users/alice"), "/users/alice");
}

TEST(Route, CardinalityGuardCollapsesAPositionPerService) {
  RouteConfig c;
  c.cardinality_limit = 5;
  RouteNormalizer n(c);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(n.normalize("a", "/tags/name" + std::string(1, char('a' + i))),
              "/tags/name" + std::string(1, char('a' + i)));
  }
  EXPECT_EQ(n.normalize("a", "/tags/namef"), "/tags/*");
  EXPECT_EQ(n.normalize("a", "/tags/namea"), "/tags/*");  // once collapsed, always collapsed
  EXPECT_EQ(n.normalize("a", "/tags/namea/edit"), "/tags/*/edit");
  EXPECT_EQ(n.normalize("b", "/tags/namef"), "/tags/namef");  // other service: own guard
  EXPECT_EQ(n.collapsed_positions(), 1u);
}

TEST(Route, HostNormalisation) {
  EXPECT_EQ(normalize_host("API.Example.com.", 64), "api.example.com");
  EXPECT_EQ(normalize_host("example.com:8080", 64), "example.com:8080");
  EXPECT_EQ(normalize_host("[::1]:80", 64), "[::1]:80");
  EXPECT_FALSE(normalize_host("evil\"host", 64));
  EXPECT_FALSE(normalize_host("a:99999", 64));
  EXPECT_FALSE(normalize_host(std::string(65, 'a'), 64));
  EXPECT_FALSE(normalize_host("", 64));
  EXPECT_EQ(service_from_port(8080), "port_8080");
}

std::string classify(std::string_view body, uint16_t status = 200,
                     std::string_view ctype = "application/json", BusinessRules rules = {}) {
  return BusinessErrorDetector(rules).classify(status, ctype, ContentCoding::kIdentity, body).error_type;
}

TEST(Business, KnownErrorsAreTyped) {
  EXPECT_EQ(classify(R"({"success":false,"message":"Card declined: insufficient funds"})"),
            "insufficient_funds");
  EXPECT_EQ(classify(R"({"ok":false,"error":"invalid_auth"})"), "auth_failure");
  EXPECT_EQ(classify(R"({"code":"ERROR","message":"something broke"})"), "generic_business_error");
  EXPECT_EQ(classify(R"({"status":"error","message":"Too many requests, slow down"})"),
            "rate_limit");
  EXPECT_EQ(classify(R"({"status":"fail","data":{"email":"email is required"}})"),
            "generic_business_error");
  EXPECT_EQ(classify(R"({"error":{"type":"validation_error","field":"email"}})"), "validation");
  EXPECT_EQ(classify(R"({"errors":[{"message":"Not authorized"}],"data":null})"), "auth_failure");
  EXPECT_EQ(classify(R"({"errors":[{"message":"Syntax Error"}]})"), "generic_business_error");
}

TEST(Business, NoFalsePositives) {
  // GraphQL partial success: data alongside errors.
  EXPECT_EQ(classify(R"({"errors":[{"message":"x failed"}],"data":{"user":{"id":1}}})"), "");
  EXPECT_EQ(classify(R"({"data":{"user":null},"errors":[{"message":"not found"}]})"), "");
  // The word "error" in ordinary data.
  EXPECT_EQ(classify(R"({"data":[{"title":"error handling in Go","status":"published"}]})"), "");
  EXPECT_EQ(classify(R"({"message":"no error","count":3})"), "");
  EXPECT_EQ(classify(R"({"error":null,"result":42})"), "");
  EXPECT_EQ(classify(R"({"error":false,"errors":[]})"), "");
  EXPECT_EQ(classify(R"({"success":true,"status":"ok","code":"OK"})"), "");
  // A truncated GraphQL body whose data member was cut off is not proof of failure.
  EXPECT_EQ(classify(R"({"errors":[{"message":"partial"}],"da)"), "");
  // Not JSON, compressed, or a status outside the inspected range.
  EXPECT_EQ(classify(R"({"success":false})", 200, "text/html"), "");
  EXPECT_EQ(classify("<p>error</p>", 200, ""), "");
  EXPECT_EQ(classify(R"({"success":false})", 500), "");
  EXPECT_EQ(BusinessErrorDetector(BusinessRules{})
                .classify(200, "application/json", ContentCoding::kGzip, R"({"success":false})")
                .error_type,
            "");
}

TEST(Business, ConfiguredRules) {
  BusinessRules rules;
  rules.extra_rules = {{"result", "DECLINED", "insufficient_funds"}, {"fault", "", "custom_fault"}};
  EXPECT_EQ(classify(R"({"result":"declined"})", 200, "application/json", rules),
            "insufficient_funds");
  EXPECT_EQ(classify(R"({"fault":{"x":1}})", 200, "application/json", rules), "custom_fault");
  EXPECT_EQ(classify(R"({"fault":{}})", 200, "application/json", rules), "");
  rules.false_means_error_keys.clear();
  EXPECT_EQ(classify(R"({"success":false})", 200, "application/json", rules), "");
}

TEST(Health, FormulaExactValues) {
  const HealthConfig c;
  EXPECT_DOUBLE_EQ(health_score(c, 0, 0, 100), 100.0);
  // 1 % business errors: 0.01*1000*0.25 = 2.5; 10 % 5xx: 0.1*100*0.15 = 1.5; p99 700 ms: 2*5 = 10.
  EXPECT_DOUBLE_EQ(health_score(c, 0.01, 0.10, 700), 86.0);
  EXPECT_DOUBLE_EQ(health_score(c, 0.5, 0, 0), 50.0);     // business deduction capped at 50
  EXPECT_DOUBLE_EQ(health_score(c, 0, 1.0, 0), 85.0);     // all 5xx: 100*0.15 = 15 (< cap 30)
  EXPECT_DOUBLE_EQ(health_score(c, 0, 0, 5000), 80.0);    // latency deduction capped at 20
  EXPECT_DOUBLE_EQ(health_score(c, 1, 1, 1e9), 15.0);
  EXPECT_DOUBLE_EQ(health_score(c, 0, 0, 500), 100.0);    // only strictly above 500 ms
  HealthConfig heavy;
  heavy.server_weight = 1.0;
  heavy.server_cap = 1000;
  heavy.business_cap = 1000;
  EXPECT_DOUBLE_EQ(health_score(heavy, 1, 1, 0), 0.0);    // clamped
}

TEST(Health, HysteresisPreventsFlapping) {
  const HealthConfig c;  // healthy >= 80, degraded >= 50, margin 5
  std::optional<HealthState> s;
  s = next_health_state(c, s, 90);
  EXPECT_EQ(*s, HealthState::kHealthy);
  s = next_health_state(c, s, 79.9);
  EXPECT_EQ(*s, HealthState::kDegraded);
  for (double score : {80.1, 79.9, 84.9, 80.0, 79.0}) {
    s = next_health_state(c, s, score);
    EXPECT_EQ(*s, HealthState::kDegraded) << score;
  }
  s = next_health_state(c, s, 85.0);
  EXPECT_EQ(*s, HealthState::kHealthy);
  s = next_health_state(c, s, 40);
  EXPECT_EQ(*s, HealthState::kUnhealthy);
  s = next_health_state(c, s, 54);
  EXPECT_EQ(*s, HealthState::kUnhealthy);
  s = next_health_state(c, s, 60);
  EXPECT_EQ(*s, HealthState::kDegraded);
  s = next_health_state(c, std::optional<HealthState>(HealthState::kUnhealthy), 95);
  EXPECT_EQ(*s, HealthState::kHealthy);
  EXPECT_EQ(next_health_state(c, std::nullopt, 82), HealthState::kHealthy);
}

TEST(Exposition, LabelAndJsonEscaping) {
  std::string out;
  append_label_value(out, "a\\b\"c\nd\x01\xff");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd__");
  out.clear();
  append_json_string(out, "q\"\\\n\x02\xc3");
  EXPECT_EQ(out, "\"q\\\"\\\\\\n\\u0002\\\\xc3\"");
  out.clear();
  append_double(out, 0.005);
  EXPECT_EQ(out, "0.005");
}

std::string response(int status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

class AnalyzerTest : public ::testing::Test {
 protected:
  Derived send(std::string_view target, int status, std::string_view body, uint64_t latency_ns,
               std::string_view host = "shop.test") {
    req_ = "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
    resp_ = response(status, body);
    ExchangeView ex;
    ex.request = req_;
    ex.response = resp_;
    ex.latency_ns = latency_ns;
    ex.local_port = 80;
    return analyzer_->observe(ex, clock_.mono_ns());
  }
  void make() { analyzer_ = std::make_unique<HttpAnalyzer>(config_, clock_); }
  ManualClock clock_;
  HttpConfig config_;
  std::unique_ptr<HttpAnalyzer> analyzer_ = std::make_unique<HttpAnalyzer>(config_, clock_);
  std::string req_, resp_;
};

TEST_F(AnalyzerTest, MixedTrafficGivesExactRatesAndTheFormulaScore) {
  // 200 requests: 10 % 5xx, 5 % business errors in 200 bodies, 10 % GraphQL partial successes.
  for (int i = 0; i < 200; ++i) {
    const std::string target = "/orders/" + std::to_string(1000 + i);
    if (i % 10 == 0) {
      send(target, 503, R"({"error":"upstream"})", 20'000'000);
    } else if (i % 20 == 1) {
      send(target, 200, R"({"success":false,"error":"insufficient_funds"})", 20'000'000);
    } else if (i % 10 == 2) {
      send(target, 200, R"({"errors":[{"message":"x"}],"data":{"order":{"id":1}}})", 20'000'000);
    } else {
      send(target, 200, R"({"data":{"id":1}})", 20'000'000);
    }
  }
  clock_.advance_ns(config_.health.report_interval_ns);
  const std::vector<HealthReport> reports = analyzer_->due_reports();
  ASSERT_EQ(reports.size(), 1u);
  const HealthReport& r = reports[0];
  EXPECT_EQ(r.service, "shop.test");
  EXPECT_EQ(r.route, "/orders/{id}");
  EXPECT_EQ(r.requests, 200u);
  EXPECT_DOUBLE_EQ(r.error_rate_5xx, 0.10);
  EXPECT_DOUBLE_EQ(r.business_error_rate, 0.05);
  EXPECT_NEAR(r.p99_ms, 20.0, 20.0 * 0.016);
  EXPECT_DOUBLE_EQ(r.score, 100.0 - 12.5 - 1.5);
  EXPECT_EQ(r.state, HealthState::kHealthy);
  EXPECT_TRUE(analyzer_->due_reports().empty());  // not due again yet

  std::string prom;
  analyzer_->render_prometheus(prom);
  EXPECT_NE(prom.find("http_requests_total{service=\"shop.test\",method=\"GET\",route=\"/orders/"
                      "{id}\",status_class=\"2xx\"} 180"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("status_class=\"5xx\"} 20\n"), std::string::npos);
  EXPECT_NE(prom.find("api_business_errors_total{service=\"shop.test\",route=\"/orders/{id}\","
                      "error_type=\"insufficient_funds\"} 10"),
            std::string::npos);
  EXPECT_NE(prom.find("http_request_duration_seconds_bucket{service=\"shop.test\",method=\"GET\","
                      "route=\"/orders/{id}\",status_class=\"2xx\",le=\"0.025\"} 180"),
            std::string::npos);
  EXPECT_NE(prom.find("le=\"+Inf\"} 180"), std::string::npos);
  EXPECT_NE(prom.find("api_endpoint_health_score{service=\"shop.test\",route=\"/orders/{id}\"} 86"),
            std::string::npos);
  EXPECT_NE(prom.find("http_request_errors_total{service=\"shop.test\",method=\"GET\",route=\"/"
                      "orders/{id}\",status_class=\"2xx\"} 10"),
            std::string::npos);
  const std::string json = analyzer_->health_json();
  EXPECT_NE(json.find(R"("route":"/orders/{id}","score":86,"state":"healthy","requests":200)"),
            std::string::npos)
      << json;

  // The window slides: five minutes later the endpoint is gone.
  clock_.advance_ns(config_.health.window_ns);
  EXPECT_TRUE(analyzer_->due_reports().empty());
  EXPECT_EQ(analyzer_->health_json().find("/orders"), std::string::npos);
}

TEST_F(AnalyzerTest, SeriesAreBoundedWithOverflow) {
  config_.series.max_series = 10;
  config_.series.overflow_reserve = 2;
  config_.route.cardinality_limit = 1000;
  make();
  for (int i = 0; i < 100; ++i) send("/p" + std::string(1, char('a' + i % 26)) + "x" +
                                     std::string(1, char('a' + i / 26)), 200, "{}", 1'000'000,
                                     "h" + std::to_string(i % 5) + ".test");
  EXPECT_LE(analyzer_->red().series().size(), 10u + 2u + 6u);
  EXPECT_GT(analyzer_->series_overflowed(), 0u);
  uint64_t total = 0;
  for (const auto& [k, s] : analyzer_->red().series()) total += s.requests;
  EXPECT_EQ(total, 100u);  // nothing lost, only folded
  std::string prom;
  analyzer_->render_prometheus(prom);
  EXPECT_NE(prom.find("route=\"/__overflow__\""), std::string::npos);
  EXPECT_NE(prom.find("ringward_http_series_max 10\n"), std::string::npos);
}

TEST_F(AnalyzerTest, ServicesAreBoundedAndHostileHostsFallBackToThePort) {
  config_.route.max_services = 3;
  make();
  for (int i = 0; i < 10; ++i) send("/", 200, "{}", 1, "svc" + std::to_string(i) + ".test");
  EXPECT_EQ(analyzer_->counters().service_overflow, 7u);
  make();
  const Derived d = send("/", 200, "{}", 1, "bad\"host");
  EXPECT_EQ(d.service, "port_80");
  EXPECT_EQ(analyzer_->counters().malformed[static_cast<size_t>(Malformed::kBadHost)], 1u);
}

TEST_F(AnalyzerTest, FallsBackToKernelFieldsAndCountsGarbage) {
  ExchangeView ex;
  ex.request = "\x16\x03\x01 garbage\r\n";
  ex.method = "POST";
  ex.target = "/login";
  ex.status = 401;
  ex.local_port = 443;
  const Derived d = analyzer_->observe(ex, clock_.mono_ns());
  EXPECT_TRUE(d.valid);
  EXPECT_EQ(d.route, "/login");
  EXPECT_EQ(d.service, "port_443");
  EXPECT_EQ(d.priority, schema::Priority::HIGH);
  EXPECT_EQ(analyzer_->counters().malformed[static_cast<size_t>(Malformed::kBadMethod)] +
                analyzer_->counters().malformed[static_cast<size_t>(Malformed::kBadRequestLine)],
            1u);
  ExchangeView empty;
  EXPECT_FALSE(analyzer_->observe(empty, clock_.mono_ns()).valid);
  EXPECT_EQ(analyzer_->counters().unusable, 1u);
  // A timed-out exchange: no response.
  ExchangeView to;
  to.request = "GET /slow HTTP/1.1\r\n\r\n";
  to.timed_out = true;
  const Derived t = analyzer_->observe(to, clock_.mono_ns());
  EXPECT_EQ(t.status, 0);
  EXPECT_EQ(analyzer_->counters().timeouts, 1u);
}

TEST_F(AnalyzerTest, ReadsCapnpExchanges) {
  capnp::MallocMessageBuilder msg;
  auto ex = msg.initRoot<schema::HttpExchange>();
  const std::string rq = "GET /users/7/orders HTTP/1.1\r\nHost: api.test\r\n\r\n";
  const std::string rs = response(200, R"({"status":"error","code":"VALIDATION_FAILED"})");
  ex.setMethod("GET");
  ex.setRequest(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(rq.data()), rq.size()));
  ex.setResponse(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(rs.data()), rs.size()));
  ex.setStatus(200);
  ex.setLatencyNs(5'000'000);
  ex.setRole("server");
  const Derived d = analyzer_->observe(ex.asReader(), clock_.mono_ns());
  EXPECT_EQ(d.route, "/users/{id}/orders");
  EXPECT_EQ(d.service, "api.test");
  EXPECT_EQ(d.business_error, "validation");
  EXPECT_EQ(d.priority, schema::Priority::HIGH);
}

TEST(Config, Validation) {
  HttpConfig c;
  EXPECT_FALSE(c.validate());
  c.series.latency_buckets_s = {0.1, 0.05};
  EXPECT_TRUE(c.validate());
  c = HttpConfig{};
  c.route.patterns = {"users/{id}"};
  EXPECT_TRUE(c.validate());
  c = HttpConfig{};
  c.health.healthy_min = 40;
  EXPECT_TRUE(c.validate());
}

}  // namespace
}  // namespace ringward::http
