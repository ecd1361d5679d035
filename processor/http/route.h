// Route and service normalisation: turns attacker-chosen request targets and Host headers into a
// bounded set of metric labels. Numeric ids, UUIDs, hex strings and random-looking tokens become
// placeholders, configured patterns win over heuristics, and a per-service cardinality guard
// collapses a path position that keeps producing new literals into "*".
// Trust: inputs are attacker-controlled; outputs contain only [A-Za-z0-9._~!$&'()*+,;=:@%{}/-]
// and are length-bounded, so they are safe as Prometheus label values and JSON strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processor/http/http_config.h"

namespace ringward::http {

// Lower-cases and validates a Host header value (reg-name or IP literal, optional port). Returns
// nullopt when it is empty, too long or contains characters a host cannot have.
std::optional<std::string> normalize_host(std::string_view host, size_t max_len);

// The service name used when a request carries no usable Host header.
std::string service_from_port(uint16_t port);

// The heuristic placeholder for one path segment ("{id}", "{uuid}", "{hex}", "{token}",
// "{invalid}"), or an empty view when the segment stays a literal.
std::string_view classify_segment(std::string_view segment, const RouteConfig& config);

class RouteNormalizer {
 public:
  explicit RouteNormalizer(const RouteConfig& config);

  // The bounded route label for `target` (origin-form, absolute-form, "*" or authority-form).
  // Updates the cardinality guard of `service`; the caller bounds the number of services.
  std::string normalize(std::string_view service, std::string_view target);

  // Positions collapsed into "*" so far (all services), and literals refused because a service
  // had no room to track another prefix.
  uint64_t collapsed_positions() const { return collapsed_positions_; }
  uint64_t untracked_literals() const { return untracked_literals_; }
  size_t tracked_services() const { return services_.size(); }

 private:
  struct Pattern {
    std::string text;
    std::vector<std::string> segments;  // literal, or "{...}" for any one segment
    bool rest = false;                  // ends in "{*}"
  };
  struct PrefixState {
    bool collapsed = false;
    std::vector<uint64_t> seen;  // hashes of distinct literals, at most cardinality_limit
  };
  using ServiceGuard = std::unordered_map<std::string, PrefixState>;

  static bool matches(const Pattern& p, const std::vector<std::string_view>& segments);
  std::string_view guard_literal(ServiceGuard& guard, const std::string& prefix,
                                 std::string_view literal);

  RouteConfig config_;
  std::vector<Pattern> patterns_;
  std::unordered_map<std::string, ServiceGuard> services_;
  uint64_t collapsed_positions_ = 0;
  uint64_t untracked_literals_ = 0;
};

}  // namespace ringward::http
