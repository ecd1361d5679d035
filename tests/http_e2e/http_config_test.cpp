// [processor.http]: the operator-facing keys of the HTTP semantics library load with their
// defaults, accept valid values, and reject invalid ones with file, line and key.
#include <cstdlib>

#include <gtest/gtest.h>

#include "common/config.h"

namespace ringward {
namespace {

const std::string kSink = "[[shipper.sinks]]\ntype = \"file\"\npath = \"/x\"\n";

ConfigResult load(const std::string& http_section) {
  return load_config_text(kSink + "[processor]\nmax_events_per_second = 5\n" + http_section,
                          "h.toml");
}

TEST(ProcessorHttpConfig, DefaultsMatchTheDocumentedOnes) {
  auto r = load_config("");
  ASSERT_TRUE(r.config) << r.error;
  const auto& h = r.config->processor.http;
  EXPECT_TRUE(h.route_patterns.empty());
  EXPECT_EQ(h.route_cardinality_limit, 50);
  EXPECT_EQ(h.max_series, 2000);
  EXPECT_EQ(h.latency_buckets_s.size(), 11u);
  EXPECT_TRUE(h.business_errors);
  EXPECT_TRUE(h.business_rules.empty());
  EXPECT_EQ(h.health_window_s, 300);
  EXPECT_EQ(h.health_report_interval_s, 60);
  EXPECT_DOUBLE_EQ(h.health_business_weight, 0.25);
  EXPECT_DOUBLE_EQ(h.health_server_error_weight, 0.15);
  EXPECT_DOUBLE_EQ(h.health_p99_threshold_ms, 500.0);
  EXPECT_DOUBLE_EQ(h.health_healthy_min, 80.0);
  EXPECT_DOUBLE_EQ(h.health_degraded_min, 50.0);
  EXPECT_DOUBLE_EQ(h.health_hysteresis, 5.0);
}

TEST(ProcessorHttpConfig, EveryKeyLoads) {
  auto r = load(
      "[processor.http]\n"
      "route_patterns = [\"/users/{id}/orders\", \"/static/{*}\"]\n"
      "route_cardinality_limit = 20\n"
      "max_series = 500\n"
      "latency_buckets_s = [0.001, 0.01, 1]\n"
      "business_errors = true\n"
      "health_window_s = 60\n"
      "health_report_interval_s = 5\n"
      "health_business_weight = 0.5\n"
      "health_server_error_weight = 0.2\n"
      "health_p99_threshold_ms = 250\n"
      "health_healthy_min = 90\n"
      "health_degraded_min = 60\n"
      "health_hysteresis = 2.5\n"
      "[[processor.http.business_rules]]\n"
      "key = \"result\"\nvalue = \"DECLINED\"\nerror_type = \"insufficient_funds\"\n"
      "[[processor.http.business_rules]]\n"
      "key = \"failed\"\nvalue = true\n");
  ASSERT_TRUE(r.config) << r.error;
  const auto& h = r.config->processor.http;
  EXPECT_EQ(r.config->processor.max_events_per_second, 5);
  ASSERT_EQ(h.route_patterns.size(), 2u);
  EXPECT_EQ(h.route_patterns[1], "/static/{*}");
  EXPECT_EQ(h.route_cardinality_limit, 20);
  EXPECT_EQ(h.max_series, 500);
  EXPECT_EQ(h.latency_buckets_s, (std::vector<double>{0.001, 0.01, 1.0}));
  EXPECT_EQ(h.health_window_s, 60);
  EXPECT_EQ(h.health_report_interval_s, 5);
  EXPECT_DOUBLE_EQ(h.health_p99_threshold_ms, 250.0);
  EXPECT_DOUBLE_EQ(h.health_hysteresis, 2.5);
  ASSERT_EQ(h.business_rules.size(), 2u);
  EXPECT_EQ(h.business_rules[0].key, "result");
  EXPECT_EQ(h.business_rules[0].value, "DECLINED");
  EXPECT_EQ(h.business_rules[0].error_type, "insufficient_funds");
  EXPECT_EQ(h.business_rules[1].value, "true");
  EXPECT_EQ(h.business_rules[1].error_type, "generic_business_error");
}

struct BadCase {
  const char* toml;
  const char* error;  // expected substring
};

TEST(ProcessorHttpConfig, InvalidValuesNameFileLineAndKey) {
  // The [processor.http] header is on line 6 of the generated file; its first key on line 7.
  const BadCase cases[] = {
      {"[processor.http]\nmax_series = 0\n",
       "h.toml:7: key 'processor.http.max_series': 0 is out of range"},
      {"[processor.http]\nmax_sereis = 10\n", "h.toml:7: key 'processor.http.max_sereis': unknown key"},
      {"[processor.http]\nroute_patterns = [\"/ok\", \"users/{id}\"]\n",
       "h.toml:7: key 'processor.http.route_patterns': pattern 'users/{id}' must start with '/'"},
      {"[processor.http]\nlatency_buckets_s = [0.1, 0.05]\n",
       "h.toml:7: key 'processor.http.latency_buckets_s': 0.05 must be in (0, 86400] and greater"},
      {"[processor.http]\nlatency_buckets_s = []\n",
       "key 'processor.http.latency_buckets_s': needs 1 to 64 bucket bounds"},
      {"[processor.http]\nlatency_buckets_s = [\"fast\"]\n",
       "key 'processor.http.latency_buckets_s': array element is not a number"},
      {"[processor.http]\nhealth_report_interval_s = 0\n",
       "h.toml:7: key 'processor.http.health_report_interval_s': 0 is out of range [1, 86400]"},
      {"[processor.http]\nhealth_healthy_min = 40\n",
       "key 'processor.http.health_degraded_min': 50 must be below health_healthy_min (40)"},
      {"[processor.http]\nhealth_business_weight = \"high\"\n",
       "h.toml:7: key 'processor.http.health_business_weight': expected a number"},
      {"[processor.http]\n[[processor.http.business_rules]]\nvalue = \"x\"\n",
       "key 'processor.http.business_rules.key': required"},
      {"[processor.http]\n[[processor.http.business_rules]]\nkey = \"k\"\nerror_type = \"oops\"\n",
       "h.toml:9: key 'processor.http.business_rules.error_type': 'oops' is not one of"},
      {"[processor.http]\n[[processor.http.business_rules]]\nkey = \"k\"\nvalu = \"x\"\n",
       "h.toml:9: key 'processor.http.business_rules.valu': unknown key"},
  };
  for (const auto& c : cases) {
    auto r = load(c.toml);
    EXPECT_FALSE(r.config) << c.toml;
    EXPECT_NE(r.error.find(c.error), std::string::npos) << c.toml << "\n -> " << r.error;
  }
  auto r = load_config_text(kSink + "[processor]\nhttp = 3\n", "t.toml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error, "t.toml:5: key 'processor.http': expected a table");
}

TEST(ProcessorHttpConfig, EnvironmentOverridesUseTheNestedSectionName) {
  setenv("RINGWARD_PROCESSOR_HTTP_HEALTH_REPORT_INTERVAL_S", "7", 1);
  auto r = load("");
  unsetenv("RINGWARD_PROCESSOR_HTTP_HEALTH_REPORT_INTERVAL_S");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->processor.http.health_report_interval_s, 7);
  setenv("RINGWARD_PROCESSOR_HTTP_MAX_SERIES", "-1", 1);
  r = load("");
  unsetenv("RINGWARD_PROCESSOR_HTTP_MAX_SERIES");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("key 'processor.http.max_series'"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ringward
