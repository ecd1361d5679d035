// Business-error detection in captured response bodies: finds the "silent 200" (a success status
// carrying an application failure) from the top-level members of a JSON body prefix, and types it
// (rate_limit, auth_failure, insufficient_funds, validation, generic_business_error). Rules are
// configuration (BusinessRules) and documented in docs/http-semantics.md.
// Trust: the body is attacker-controlled; the returned type is a fixed string or a configured one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "processor/http/http_config.h"
#include "processor/http/http_parse.h"
#include "processor/http/json_scan.h"

namespace ringward::http {

struct BusinessVerdict {
  std::string error_type;  // empty: no business error
  std::string rule;        // which rule fired ("success_false", "graphql_errors", "rule:<key>", ...)
  bool inspected = false;  // the body was JSON we could read (not compressed, not another type)
};

class BusinessErrorDetector {
 public:
  explicit BusinessErrorDetector(const BusinessRules& rules) : rules_(rules) {}

  BusinessVerdict classify(uint16_t status, std::string_view content_type, ContentCoding coding,
                           std::string_view body) const;

  // Types a failure from the words in its JSON text and the HTTP status. Exposed for tests.
  static std::string_view infer_type(uint16_t status, const JsonScan& scan);

 private:
  BusinessRules rules_;
  // Scratch of classify(), kept for its capacity (one detector per single-threaded processor).
  mutable JsonScan scan_;
};

}  // namespace ringward::http
