// RED metrics (rate, errors, duration) per (service, method, route, status_class), plus business
// errors per (service, route, error_type), with a hard bound on the number of series: once
// max_series is reached new series fold into "/__overflow__" routes (at most overflow_reserve of
// them), then into one global overflow series per status class. Renders Prometheus text.
// Trust: label values are normalised upstream and escaped again at rendering.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "processor/http/histogram.h"
#include "processor/http/http_config.h"

namespace ringward::http {

struct SeriesKey {
  std::string service;
  std::string method;
  std::string route;
  std::string status_class;
  auto operator<=>(const SeriesKey&) const = default;
};

struct BusinessKey {
  std::string service;
  std::string route;
  std::string error_type;
  auto operator<=>(const BusinessKey&) const = default;
};

class RedMetrics {
 public:
  static constexpr std::string_view kOverflowRoute = "/__overflow__";
  static constexpr std::string_view kOverflowService = "__overflow__";

  explicit RedMetrics(const SeriesConfig& config);

  // Records one request; returns the key it was counted under (the route may be the overflow).
  const SeriesKey& record(SeriesKey key, double latency_s, bool error);
  void record_business_error(std::string_view service, std::string_view route,
                             std::string_view error_type);

  // Series currently held (request series + business-error series).
  size_t live_series() const { return series_.size() + business_.size(); }
  size_t max_series() const { return config_.max_series; }
  uint64_t overflowed() const { return overflowed_; }
  uint64_t total_requests() const { return total_requests_; }

  void render(std::string& out) const;

  struct Series {
    explicit Series(size_t bounds) : latency(bounds) {}
    uint64_t requests = 0;
    uint64_t errors = 0;
    BucketHistogram latency;
  };
  const std::map<SeriesKey, Series>& series() const { return series_; }
  const std::map<BusinessKey, uint64_t>& business() const { return business_; }

 private:
  SeriesConfig config_;
  std::map<SeriesKey, Series> series_;
  std::map<BusinessKey, uint64_t> business_;
  size_t overflow_series_ = 0;
  uint64_t overflowed_ = 0;
  uint64_t total_requests_ = 0;
};

}  // namespace ringward::http
