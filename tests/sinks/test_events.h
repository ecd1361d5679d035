// Test helpers: real Cap'n Proto event records as the shipper holds them. Trust: test only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shipper/core/sink.h"

namespace ringward::shipper::sinks::test {

struct EventSpec {
  uint64_t id = 1;
  uint64_t wall_ns = 1'700'000'000'123'456'789ULL;
  std::string host = "web-1";
  uint32_t pid = 4242;
  schema::Priority priority = schema::Priority::NORMAL;
  schema::Verdict verdict = schema::Verdict::CLEAN;
  std::vector<std::string> rule_ids;
  std::string exec_filename = "/usr/bin/curl";
};

OutEvent make_event(const EventSpec& s);
std::vector<OutEvent> make_events(size_t n, uint64_t first_id = 1);

}  // namespace ringward::shipper::sinks::test
