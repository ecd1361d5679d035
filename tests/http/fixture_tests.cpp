// Parsing and analysis of byte sequences recorded from real servers (python http.server, nginx,
// node) by tests/http/record_fixtures.py. Each fixture is used as captured (first 1024 bytes).
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "common/clock.h"
#include "processor/http/analyzer.h"
#include "processor/http/http_parse.h"
#include "test_support.h"

namespace ringward::http {
namespace {

using test::captured;
using test::read_fixture;

struct Observed {
  Derived derived;
  std::string prom;
};

class FixtureTest : public ::testing::Test {
 protected:
  Derived run(const std::string& name, uint64_t latency_ns = 2'000'000) {
    ExchangeView ex;
    req_ = captured(read_fixture(name + ".req"));
    resp_ = captured(read_fixture(name + ".resp"));
    ex.request = req_;
    ex.response = resp_;
    ex.latency_ns = latency_ns;
    ex.local_port = 8080;
    return analyzer_.observe(ex, clock_.mono_ns());
  }
  ManualClock clock_;
  HttpConfig config_;
  HttpAnalyzer analyzer_{config_, clock_};
  std::string req_, resp_;
};

TEST_F(FixtureTest, PythonIndexIsHtmlAndNeverABusinessError) {
  const Derived d = run("python_index");
  EXPECT_TRUE(d.valid);
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.route, "/index.html");
  EXPECT_EQ(d.service.rfind("127.0.0.1:", 0), 0u) << d.service;
  EXPECT_EQ(d.business_error, "");  // the HTML says "error", but only JSON carries rules
  EXPECT_EQ(d.priority, schema::Priority::NORMAL);
  const auto r = parse_responses(resp_, ParseLimits{});
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].version_minor, 0);
  EXPECT_TRUE(r.messages[0].body_complete);
  EXPECT_NE(r.messages[0].body.find("<h1>Hello</h1>"), std::string::npos);
}

TEST_F(FixtureTest, Python404DropsQueryAndNormalisesId) {
  const Derived d = run("python_404");
  EXPECT_EQ(d.status, 404);
  EXPECT_EQ(d.route, "/users/{id}/missing");
  EXPECT_EQ(d.priority, schema::Priority::NORMAL);
}

TEST_F(FixtureTest, PythonHeadResponseHasNoBody) {
  const std::string req = captured(read_fixture("python_head.req"));
  const std::string resp = captured(read_fixture("python_head.resp"));
  const auto reqs = parse_requests(req, ParseLimits{});
  ASSERT_EQ(reqs.messages.size(), 1u);
  EXPECT_EQ(reqs.messages[0].method, "HEAD");
  std::vector<std::string_view> methods{"HEAD"};
  const auto r = parse_responses(resp, ParseLimits{}, methods);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].headers.content_length.has_value());
  EXPECT_GT(*r.messages[0].headers.content_length, 0u);
  EXPECT_TRUE(r.messages[0].body.empty());
  EXPECT_TRUE(r.messages[0].body_complete);
  EXPECT_FALSE(r.error);
}

TEST_F(FixtureTest, NginxGzipChunkedIsMarkedNotRead) {
  const Derived d = run("nginx_gzip_chunked");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.body_encoding, "chunked+gzip");
  EXPECT_EQ(d.business_error, "");
  EXPECT_EQ(d.route, "/users.json");
  const std::string full = read_fixture("nginx_gzip_chunked.resp");
  const auto r = parse_responses(full, ParseLimits{});
  ASSERT_EQ(r.messages.size(), 1u);
  const ResponseHead& m = r.messages[0];
  EXPECT_TRUE(m.headers.chunked);
  EXPECT_EQ(m.headers.coding, ContentCoding::kGzip);
  EXPECT_TRUE(m.body_complete);
  ASSERT_GE(m.body.size(), 2u);
  // De-chunked bytes are the gzip stream itself: magic 1f 8b.
  EXPECT_EQ(static_cast<unsigned char>(m.body[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(m.body[1]), 0x8b);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.consumed, full.size());
}

TEST_F(FixtureTest, Nginx500IsHighPriority) {
  const Derived d = run("nginx_500");
  EXPECT_EQ(d.status, 500);
  EXPECT_EQ(d.route, "/boom");
  EXPECT_EQ(d.priority, schema::Priority::HIGH);
}

TEST_F(FixtureTest, Nginx404WithUuid) {
  const Derived d = run("nginx_404");
  EXPECT_EQ(d.status, 404);
  EXPECT_EQ(d.route, "/nope/{uuid}");
  EXPECT_EQ(d.service.rfind("localhost:", 0), 0u) << d.service;
}

TEST_F(FixtureTest, NginxPipelinedPairsInOrderWithinTheCapturedPrefix) {
  // Full buffers: three requests, three responses, paired in order.
  const std::string full_req = read_fixture("nginx_pipelined.req");
  const std::string full_resp = read_fixture("nginx_pipelined.resp");
  const auto reqs = parse_requests(full_req, ParseLimits{});
  ASSERT_EQ(reqs.messages.size(), 3u);
  std::vector<std::string_view> methods;
  for (const auto& m : reqs.messages) methods.push_back(m.method);
  const auto resps = parse_responses(full_resp, ParseLimits{}, methods);
  ASSERT_EQ(resps.messages.size(), 3u);
  EXPECT_EQ(resps.messages[0].status, 200);
  EXPECT_EQ(resps.messages[1].status, 200);
  EXPECT_EQ(resps.messages[2].status, 404);
  EXPECT_FALSE(resps.error);

  // Captured (1 KiB) response: the second response's body is cut, the third is not seen.
  const Derived d = run("nginx_pipelined");
  EXPECT_EQ(d.pairs, 2u);
  EXPECT_EQ(analyzer_.counters().unpaired_requests, 1u);
  EXPECT_EQ(analyzer_.counters().truncated_buffers, 1u);
  const auto& series = analyzer_.red().series();
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series.begin()->first.route, "/index.html");
  EXPECT_EQ(std::next(series.begin())->first.route, "/users.json");
}

TEST_F(FixtureTest, NodeChunkedGraphqlPartialSuccessIsNotAnError) {
  const Derived d = run("node_chunked");
  EXPECT_EQ(d.body_encoding, "chunked");
  EXPECT_EQ(d.business_error, "");
  const std::string full = read_fixture("node_chunked.resp");
  const auto r = parse_responses(full, ParseLimits{});
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body,
            R"({"data":{"items":[1,2,3]},"errors":[{"message":"field x failed"}]})");
  EXPECT_TRUE(r.messages[0].body_complete);
}

TEST_F(FixtureTest, Node500) {
  const Derived d = run("node_500");
  EXPECT_EQ(d.status, 500);
  EXPECT_EQ(d.route, "/boom/{id}");
  EXPECT_EQ(d.service, "api.example.test");
  EXPECT_EQ(d.priority, schema::Priority::HIGH);
  EXPECT_EQ(d.business_error, "");  // 5xx is a server error, not a silent business error
}

TEST_F(FixtureTest, NodeInsufficientFunds) {
  const Derived d = run("node_insufficient_funds");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.route, "/pay/{id}");
  EXPECT_EQ(d.business_error, "insufficient_funds");
  EXPECT_EQ(d.priority, schema::Priority::HIGH);
}

TEST_F(FixtureTest, NodeGraphqlPartialSuccessWithErrorWordInData) {
  const Derived d = run("node_graphql_partial");
  EXPECT_EQ(d.business_error, "");
  EXPECT_EQ(d.priority, schema::Priority::NORMAL);
}

TEST_F(FixtureTest, NodeRateLimited) {
  const Derived d = run("node_rate_limited");
  EXPECT_EQ(d.business_error, "rate_limit");
  EXPECT_EQ(d.route, "/limited/abc");
}

TEST_F(FixtureTest, NodePipelinedPostAndGets) {
  const Derived d = run("node_pipelined");
  EXPECT_EQ(d.pairs, 3u);
  EXPECT_EQ(d.route, "/graphql");
  EXPECT_EQ(d.priority, schema::Priority::HIGH);  // the third response is a 500
  std::string prom;
  analyzer_.render_prometheus(prom);
  EXPECT_NE(prom.find("http_requests_total{service=\"api.example.test\",method=\"POST\",route=\"/"
                      "graphql\",status_class=\"2xx\"} 1"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("route=\"/users/{id}/orders/{hex}\",status_class=\"2xx\"} 1"),
            std::string::npos);
  EXPECT_NE(prom.find("method=\"GET\",route=\"/boom\",status_class=\"5xx\"} 1"), std::string::npos);
}

// Every prefix of every recorded exchange is truncation, never malformation.
TEST(FixturePrefixes, EveryCutIsTruncatedNotMalformed) {
  const std::array<const char*, 13> names = {
      "python_index", "python_404",   "python_head", "nginx_gzip_chunked", "nginx_500",
      "nginx_404",    "nginx_pipelined", "node_chunked", "node_500", "node_insufficient_funds",
      "node_graphql_partial", "node_rate_limited", "node_pipelined"};
  for (const char* name : names) {
    const std::string req = read_fixture(std::string(name) + ".req");
    const std::string resp = read_fixture(std::string(name) + ".resp");
    for (size_t cut = 0; cut <= req.size(); ++cut) {
      const auto r = parse_requests(std::string_view(req).substr(0, cut), ParseLimits{});
      ASSERT_FALSE(r.error) << name << " request cut at " << cut << ": "
                            << malformed_name(*r.error);
    }
    for (size_t cut = 0; cut <= resp.size(); ++cut) {
      const auto r = parse_responses(std::string_view(resp).substr(0, cut), ParseLimits{});
      ASSERT_FALSE(r.error) << name << " response cut at " << cut << ": "
                            << malformed_name(*r.error);
      ASSERT_LE(r.consumed, cut);
    }
  }
}

}  // namespace
}  // namespace ringward::http
